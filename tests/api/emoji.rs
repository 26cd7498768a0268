//! Custom emoji over HTTP: server admins add and delete them, everyone signed in lists them,
//! sees their images and reacts with them; names, images, duplicates and the server's limit are
//! checked, and a reaction with `:name:` needs that emoji to exist.

use confab::protocol::api::{CustomEmoji, CustomEmojiList};
use confab_testkit::{Api, ClientError};
use image::{DynamicImage, ImageFormat};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::{Backend, TestUser, spawn_app};

both_backends!(
    admins_add_and_delete_emoji_that_everyone_lists_and_sees,
    only_server_admins_add_or_delete_emoji,
    names_images_and_duplicates_are_checked,
    a_server_has_at_most_two_hundred_custom_emoji,
    reactions_with_a_custom_emoji_need_it_to_exist,
);

/// A small PNG; `noise` makes one that does not compress (about 4 bytes a pixel).
pub fn png(w: u32, h: u32, noise: bool) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, y| {
        if noise {
            let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503))
                .wrapping_mul(2_246_822_519);
            image::Rgba(v.to_le_bytes())
        } else {
            image::Rgba([250, 180, 0, 255])
        }
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgba8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), ImageFormat::Png)
        .unwrap();
    out
}

/// `POST /emoji` as `api`: the status and the body.
async fn post_emoji(api: &Api, name: &str, file_id: &str) -> (u16, Value) {
    api.call(
        Method::POST,
        "/api/v1/emoji",
        Some(&json!({"name": name, "file_id": file_id})),
    )
    .await
    .unwrap()
}

/// `admin` uploads a picture and makes it the emoji `:name:`.
pub async fn add_emoji(admin: &TestUser, name: &str) -> CustomEmoji {
    let file = admin
        .api
        .upload(&format!("{name}.png"), png(32, 32, false))
        .await
        .unwrap();
    let (status, body) = post_emoji(&admin.api, name, &file.id.to_string()).await;
    assert_eq!(status, 201, "{body}");
    serde_json::from_value(body).unwrap()
}

async fn list(api: &Api) -> Vec<CustomEmoji> {
    let (status, body) = api.call(Method::GET, "/api/v1/emoji", None).await.unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_value::<CustomEmojiList>(body)
        .unwrap()
        .emoji
}

fn code(answer: &(u16, Value)) -> (u16, &str) {
    (
        answer.0,
        answer.1["error"]["code"].as_str().unwrap_or("no code"),
    )
}

fn err_code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> String {
    match r {
        Err(e) => e.code().unwrap_or("no code").to_owned(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

async fn admins_add_and_delete_emoji_that_everyone_lists_and_sees(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.user("root").await; // the first account: the server admin
    let bo = app.user("bo").await; // shares no room with root
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    let added = add_emoji(&root, "party_parrot").await;
    assert_eq!(added.name, "party_parrot");
    assert_eq!(added.created_by, Some(root.id));
    assert!(added.created_at > before);
    add_emoji(&root, "blob").await;

    let seen = list(&bo.api).await;
    let names: Vec<_> = seen.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["blob", "party_parrot"], "in name order");
    assert_eq!(seen[1], added);
    // The image is readable to every signed-in user, though it was never posted in a room.
    let image = bo.api.get_raw(&added.url, &[]).await.unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");
    assert_eq!(&image.bytes().await.unwrap()[..], &png(32, 32, false)[..]);
    let (status, _) = app
        .api
        .call(Method::GET, "/api/v1/emoji", None)
        .await
        .unwrap();
    assert_eq!(status, 401, "signed-in users only");

    let (status, _) = root
        .api
        .call(Method::DELETE, "/api/v1/emoji/party_parrot", None)
        .await
        .unwrap();
    assert_eq!(status, 204);
    let names: Vec<_> = list(&bo.api).await.into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["blob"]);
    // Its image is private to its uploader again.
    let image = bo.api.get_raw(&added.url, &[]).await.unwrap();
    assert_eq!(image.status(), 404);
    assert_eq!(
        root.api.get_raw(&added.url, &[]).await.unwrap().status(),
        200
    );
    let again = root
        .api
        .call(Method::DELETE, "/api/v1/emoji/party_parrot", None)
        .await
        .unwrap();
    assert_eq!(code(&again), (404, "emoji_not_found"));
    let odd = root
        .api
        .call(Method::DELETE, "/api/v1/emoji/No%20Such", None)
        .await
        .unwrap();
    assert_eq!(code(&odd), (404, "emoji_not_found"));
}

async fn only_server_admins_add_or_delete_emoji(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.user("root").await;
    let bo = app.user("bo").await;
    let file = bo.api.upload("mine.png", png(16, 16, false)).await.unwrap();
    let refused = post_emoji(&bo.api, "mine", &file.id.to_string()).await;
    assert_eq!(code(&refused), (403, "not_allowed"));

    add_emoji(&root, "shipit").await;
    let refused = bo
        .api
        .call(Method::DELETE, "/api/v1/emoji/shipit", None)
        .await
        .unwrap();
    assert_eq!(code(&refused), (403, "not_allowed"));
    let names: Vec<_> = list(&bo.api).await.into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["shipit"], "a member can still see it");
}

async fn names_images_and_duplicates_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.user("root").await;
    let bo = app.user("bo").await;
    let picture = root.api.upload("p.png", png(16, 16, false)).await.unwrap();
    let id = picture.id.to_string();
    for bad in [
        "",
        "a",
        "Party",
        "a-b",
        "a b",
        "+1",
        "émoji",
        &"x".repeat(33),
    ] {
        let answer = post_emoji(&root.api, bad, &id).await;
        assert_eq!(code(&answer), (400, "invalid_emoji_name"), "{bad:?}");
    }
    // Colons around the name are allowed and dropped.
    let (status, body) = post_emoji(&root.api, ":ok_hand2:", &id).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "ok_hand2");
    let twice = post_emoji(&root.api, "ok_hand2", &id).await;
    assert_eq!(code(&twice), (409, "emoji_exists"));

    let text = root
        .api
        .upload("fake.png", b"definitely not a picture".to_vec())
        .await
        .unwrap();
    let answer = post_emoji(&root.api, "fake", &text.id.to_string()).await;
    assert_eq!(code(&answer), (400, "not_an_image"));
    let huge = root
        .api
        .upload("huge.png", png(512, 512, true))
        .await
        .unwrap();
    assert!(huge.size > 512 * 1024, "{}", huge.size);
    let answer = post_emoji(&root.api, "huge", &huge.id.to_string()).await;
    assert_eq!(code(&answer), (413, "emoji_too_large"));
    // Only the admin's own uploads: another's file is as unknown as a made-up one.
    let theirs = bo.api.upload("bo.png", png(8, 8, false)).await.unwrap();
    let answer = post_emoji(&root.api, "stolen", &theirs.id.to_string()).await;
    assert_eq!(code(&answer), (404, "file_not_found"));
    let answer = post_emoji(&root.api, "ghost", &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(code(&answer), (404, "file_not_found"));
    let answer = post_emoji(&root.api, "ghost", "not-an-id").await;
    assert_eq!(answer.0, 400, "{}", answer.1);
    let names: Vec<_> = list(&bo.api).await.into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["ok_hand2"], "nothing refused was kept");
}

async fn a_server_has_at_most_two_hundred_custom_emoji(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.user("root").await;
    let picture = root.api.upload("p.png", png(16, 16, false)).await.unwrap();
    let id = picture.id.to_string();
    for i in 0..200 {
        let (status, body) = post_emoji(&root.api, &format!("e{i:03}"), &id).await;
        assert_eq!(status, 201, "{i}: {body}");
    }
    let full = post_emoji(&root.api, "one_more", &id).await;
    assert_eq!(code(&full), (409, "too_many_emoji"));
    assert_eq!(list(&root.api).await.len(), 200);
    let (status, _) = root
        .api
        .call(Method::DELETE, "/api/v1/emoji/e000", None)
        .await
        .unwrap();
    assert_eq!(status, 204);
    let (status, body) = post_emoji(&root.api, "one_more", &id).await;
    assert_eq!(status, 201, "{body}");
    // The picture is still every other emoji's image.
    let bo = app.user("bo").await;
    let image = bo.api.get_raw(&picture.url, &[]).await.unwrap();
    assert_eq!(image.status(), 200);
}

async fn reactions_with_a_custom_emoji_need_it_to_exist(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.user("root").await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let m = ana.api.send_text(room.id, "ship it?").await.unwrap();
    assert_eq!(
        err_code(bo.api.react(m.id, ":party_parrot:", true).await),
        "invalid_emoji"
    );

    add_emoji(&root, "party_parrot").await;
    // A member who is no admin reacts with it.
    bo.api.react(m.id, ":party_parrot:", true).await.unwrap();
    ana.api.react(m.id, "👍", true).await.unwrap();
    let page = ana.api.history(room.id, "").await.unwrap();
    let seen = page.messages.iter().find(|x| x.id == m.id).unwrap();
    let emoji: Vec<_> = seen.reactions.iter().map(|r| r.emoji.as_str()).collect();
    assert_eq!(emoji, [":party_parrot:", "👍"]);
    assert_eq!(seen.reactions[0].user_ids, [bo.id]);
    assert_eq!(
        err_code(bo.api.react(m.id, ":party_cat:", true).await),
        "invalid_emoji",
        "a name no emoji has"
    );

    // Deleted, the emoji takes no new reactions; the standing one stays and can be taken back.
    let (status, _) = root
        .api
        .call(Method::DELETE, "/api/v1/emoji/party_parrot", None)
        .await
        .unwrap();
    assert_eq!(status, 204);
    assert_eq!(
        err_code(ana.api.react(m.id, ":party_parrot:", true).await),
        "invalid_emoji"
    );
    let page = ana.api.history(room.id, "").await.unwrap();
    let seen = page.messages.iter().find(|x| x.id == m.id).unwrap();
    assert_eq!(seen.reactions[0].emoji, ":party_parrot:");
    bo.api.react(m.id, ":party_parrot:", false).await.unwrap();
    let page = ana.api.history(room.id, "").await.unwrap();
    let seen = page.messages.iter().find(|x| x.id == m.id).unwrap();
    let emoji: Vec<_> = seen.reactions.iter().map(|r| r.emoji.as_str()).collect();
    assert_eq!(emoji, ["👍"]);
}
