//! Uploads and attachments: limits, sniffing, access, ranges, thumbnails, expiry, and the S3 backend.

use std::time::Duration;

use confab::protocol::api::{Attachment, SendMessageRequest};
use confab_testkit::ClientError;
use image::{DynamicImage, ImageFormat};
use reqwest::Method;

use crate::both_backends;
use crate::common::{Backend, Setup, TestApp, TestUser, free_port, spawn_app};

both_backends!(
    uploads_are_typed_by_their_bytes_and_stored_once,
    oversized_uploads_and_quota_overruns_leave_nothing,
    only_the_uploader_and_members_of_rooms_carrying_a_file_may_fetch_it,
    attaching_follows_the_rules_and_forwards_carry_files,
    downloads_speak_http_properly,
    rotated_photos_are_measured_and_thumbnailed_upright,
    unattached_uploads_expire_and_attached_ones_stay,
    an_upload_whose_record_cannot_be_stored_leaves_no_bytes_behind,
);

/// The limits do not depend on the store: one backend is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_advertises_its_limits_before_sign_in() {
    let app = Setup::new(Backend::Sqlite)
        .tweak(|c| {
            c.max_upload_mb = 3;
            c.user_quota_mb = 7;
        })
        .start()
        .await;
    let (status, body) = app
        .api
        .call(Method::GET, "/api/v1/config", None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({
            "max_upload_bytes": 3 * 1024 * 1024,
            "user_quota_bytes": 7 * 1024 * 1024,
            "max_message_chars": 4000,
            "max_attachments": 10,
        })
    );
    // What it advertises is what uploads are held to: one byte over is refused.
    let ana = app.user("ana").await;
    let over = vec![1u8; 3 * 1024 * 1024 + 1];
    assert_eq!(
        code(ana.api.upload("over.bin", over).await),
        "file_too_large"
    );
    let (status, _) = app
        .api
        .call(Method::POST, "/api/v1/config", None)
        .await
        .unwrap();
    assert_eq!(status, 405, "the limits are read-only");
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
        w,
        h,
        image::Rgba([0, 120, 255, 200]),
    ));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), ImageFormat::Png)
        .unwrap();
    out
}

fn attach(ids: Vec<confab::protocol::FileId>) -> SendMessageRequest {
    SendMessageRequest {
        attachments: Some(ids),
        ..Default::default()
    }
}

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> String {
    match r {
        Err(e) => e.code().unwrap_or("no code").to_owned(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

/// Every stored blob under the local storage directory.
fn blobs(app: &TestApp) -> Vec<std::path::PathBuf> {
    let root = app.data_dir.path().join("files/blobs");
    let mut found = Vec::new();
    for dir in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            found.push(f.path());
        }
    }
    found
}

async fn uploads_are_typed_by_their_bytes_and_stored_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let picture = png(40, 30);
    let a = ana
        .api
        .upload("../../secret/notes.txt", picture.clone())
        .await
        .unwrap();
    assert_eq!(a.content_type, "image/png", "a PNG named .txt is a PNG");
    assert_eq!(a.name, "notes.txt", "no path survives");
    assert_eq!(
        (a.width, a.height, a.size),
        (Some(40), Some(30), picture.len() as i64)
    );
    assert_eq!(a.url, format!("/api/v1/files/{}", a.id));
    assert!(a.thumbnail_url.is_some());
    let html = ana
        .api
        .upload(
            "cat.png",
            b"<html><body><script>alert(1)</script></body></html>".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(
        html.content_type, "text/plain; charset=utf-8",
        "an HTML file named .png is text"
    );
    assert!(html.width.is_none() && html.thumbnail_url.is_none());
    let again = ana.api.upload("copy.png", picture).await.unwrap();
    assert_ne!(again.id, a.id);
    assert_eq!(blobs(&app).len(), 2, "the same bytes are kept once");
    let voice = ana.api.upload("note.ogg", ogg_opus(2_500)).await.unwrap();
    assert_eq!(voice.content_type, "audio/ogg");
    assert_eq!(voice.duration_ms, Some(2_500));
}

async fn oversized_uploads_and_quota_overruns_leave_nothing(backend: Backend) {
    let app = Setup::new(backend)
        .tweak(|c| {
            c.max_upload_mb = 1;
            c.user_quota_mb = 2;
        })
        .start()
        .await;
    let ana = app.user("ana").await;
    let big = vec![7u8; 1024 * 1024 + 10];
    assert_eq!(code(ana.api.upload("big.bin", big).await), "file_too_large");
    let tmp: Vec<_> = std::fs::read_dir(app.data_dir.path().join("tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "no temporary file left: {tmp:?}");
    assert!(blobs(&app).is_empty());
    for i in 0..2u8 {
        ana.api
            .upload("part.bin", vec![i; 900 * 1024])
            .await
            .unwrap();
    }
    let over = ana
        .api
        .upload("part.bin", vec![9; 900 * 1024])
        .await
        .unwrap_err();
    assert!(
        matches!(&over, ClientError::Api { status: 413, code, .. } if code == "quota_exceeded"),
        "{over}"
    );
    // Another user has their own quota.
    let bo = app.user("bo").await;
    bo.api
        .upload("mine.bin", vec![1; 900 * 1024])
        .await
        .unwrap();
}

async fn only_the_uploader_and_members_of_rooms_carrying_a_file_may_fetch_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let eve = app.user("eve").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let file = ana
        .api
        .upload("plan.txt", b"the plan".to_vec())
        .await
        .unwrap();
    let status = |u: &TestUser, path: String| {
        let api = u.api.clone();
        async move { api.get_raw(&path, &[]).await.unwrap().status().as_u16() }
    };
    assert_eq!(status(&ana, file.url.clone()).await, 200, "the uploader");
    assert_eq!(status(&bo, file.url.clone()).await, 404, "not yet posted");
    ana.api.send(room.id, &attach(vec![file.id])).await.unwrap();
    assert_eq!(
        status(&bo, file.url.clone()).await,
        200,
        "a member of the room"
    );
    assert_eq!(status(&eve, file.url.clone()).await, 404, "an outsider");
    let anonymous = app.api.get_raw(&file.url, &[]).await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    ana.api.remove_member(room.id, bo.id).await.unwrap();
    assert_eq!(
        status(&bo, file.url.clone()).await,
        404,
        "no longer a member"
    );
}

async fn attaching_follows_the_rules_and_forwards_carry_files(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let bo = app.user("bo").await;
    let cy = app.user("cy").await;
    let room = app.room_with(&ana, &[&bo]).await;
    let other = app.room_with(&bo, &[&cy]).await;
    let mut ids = Vec::new();
    for i in 0..11u8 {
        ids.push(ana.api.upload("f.bin", vec![i, 1, 2, 3]).await.unwrap().id);
    }
    assert_eq!(
        code(ana.api.send(room.id, &attach(ids.clone())).await),
        "too_many_attachments"
    );
    let bos = bo.api.upload("bo.bin", vec![42; 10]).await.unwrap();
    assert_eq!(
        code(ana.api.send(room.id, &attach(vec![bos.id])).await),
        "invalid_attachment"
    );
    assert_eq!(
        code(ana.api.send(room.id, &attach(vec![ids[0], ids[0]])).await),
        "invalid_attachment"
    );
    // Files alone make a message; order is kept.
    let m = ana
        .api
        .send(room.id, &attach(ids[..3].to_vec()))
        .await
        .unwrap();
    assert_eq!(m.body, "");
    assert_eq!(
        m.attachments.iter().map(|a| a.id).collect::<Vec<_>>(),
        ids[..3].to_vec()
    );
    let page = bo.api.history(room.id, "").await.unwrap();
    assert_eq!(page.messages[0].attachments, m.attachments);
    let listed = bo.api.room(room.id).await.unwrap();
    assert_eq!(listed.last_message.unwrap().attachments.len(), 3);
    // Forwarding carries the files, and the new room's members may fetch them.
    let fwd = bo
        .api
        .send(
            other.id,
            &SendMessageRequest {
                forward_of: Some(m.id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(fwd.attachments, m.attachments);
    let got = cy.api.get_raw(&m.attachments[0].url, &[]).await.unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), &[0, 1, 2, 3]);
}

async fn downloads_speak_http_properly(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let text: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let doc = ana
        .api
        .upload("report \"final\".txt", text.clone())
        .await
        .unwrap();
    let r = ana.api.get_raw(&doc.url, &[]).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/plain; charset=utf-8");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["accept-ranges"], "bytes");
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename*=UTF-8''report%20_final_.txt")
    );
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.len() == 66,
        "strong ETag of the content hash: {etag}"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), text.as_slice());
    let cached = ana
        .api
        .get_raw(&doc.url, &[("if-none-match", &etag)])
        .await
        .unwrap();
    assert_eq!(cached.status().as_u16(), 304);
    let part = ana
        .api
        .get_raw(&doc.url, &[("range", "bytes=100-199")])
        .await
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 100-199/1000");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &text[100..200]);
    let tail = ana
        .api
        .get_raw(&doc.url, &[("range", "bytes=-10")])
        .await
        .unwrap();
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &text[990..]);
    let beyond = ana
        .api
        .get_raw(&doc.url, &[("range", "bytes=5000-")])
        .await
        .unwrap();
    assert_eq!(beyond.status().as_u16(), 416);
    assert_eq!(beyond.headers()["content-range"], "bytes */1000");
    let picture = ana.api.upload("p.png", png(10, 10)).await.unwrap();
    let r = ana.api.get_raw(&picture.url, &[]).await.unwrap();
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    let (status, body) = ana
        .api
        .call(
            Method::GET,
            &format!("/api/v1/files/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("file_not_found"))
    );
}

async fn rotated_photos_are_measured_and_thumbnailed_upright(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let img = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        1200,
        600,
        image::Rgb([10, 200, 10]),
    ));
    let mut jpeg = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut jpeg), ImageFormat::Jpeg)
        .unwrap();
    let photo = ana
        .api
        .upload("phone.jpg", with_exif_orientation(&jpeg, 6))
        .await
        .unwrap();
    assert_eq!(photo.content_type, "image/jpeg");
    assert_eq!(
        (photo.width, photo.height),
        (Some(600), Some(1200)),
        "EXIF orientation applied"
    );
    let thumb_url = photo.thumbnail_url.unwrap();
    let r = ana.api.get_raw(&thumb_url, &[]).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let t = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(
        (t.width(), t.height()),
        (160, 320),
        "longest side 320, upright"
    );
}

async fn unattached_uploads_expire_and_attached_ones_stay(backend: Backend) {
    let app = Setup::new(backend)
        .tweak(|c| c.upload_ttl_secs = 1)
        .start()
        .await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("r").await.unwrap();
    let kept = ana.api.upload("kept.bin", vec![1; 100]).await.unwrap();
    let dropped = ana.api.upload("dropped.bin", vec![2; 100]).await.unwrap();
    ana.api.send(room.id, &attach(vec![kept.id])).await.unwrap();
    let mut status = 200;
    for _ in 0..100 {
        status = ana
            .api
            .get_raw(&dropped.url, &[])
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404, "the unattached upload was deleted");
    assert_eq!(blobs(&app).len(), 1, "and its bytes with it");
    assert_eq!(
        ana.api
            .get_raw(&kept.url, &[])
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    // Deleting the message lets its file expire too.
    let m = ana
        .api
        .history(room.id, "")
        .await
        .unwrap()
        .messages
        .remove(0);
    ana.api
        .call(Method::DELETE, &format!("/api/v1/messages/{}", m.id), None)
        .await
        .unwrap();
    for _ in 0..100 {
        status = ana
            .api
            .get_raw(&kept.url, &[])
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404);
    assert!(blobs(&app).is_empty());
}

/// A local S3-API server (moto), stopped when dropped.
struct Moto {
    url: String,
    child: std::process::Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn moto() -> Moto {
    let port = free_port();
    let child = std::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the S3 test needs moto_server (pip install 'moto[server]')");
    let server = Moto {
        url: format!("http://127.0.0.1:{port}"),
        child,
    };
    for _ in 0..200 {
        if reqwest::get(&server.url).await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto_server did not start on {}", server.url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_live_in_s3_when_a_bucket_is_configured() {
    confab::install_crypto_provider();
    let s3 = moto().await;
    let created = reqwest::Client::new()
        .put(format!("{}/confab-test", s3.url))
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "bucket: {}",
        created.status()
    );
    let endpoint = s3.url.clone();
    let app = Setup::new(Backend::Sqlite)
        .tweak(move |c| {
            c.s3_bucket = Some("confab-test".into());
            c.s3_endpoint = Some(endpoint);
            c.s3_access_key_id = Some("testing".into());
            c.s3_secret_access_key = Some("testing".parse().unwrap());
            c.upload_ttl_secs = 1;
        })
        .start()
        .await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("r").await.unwrap();
    let body: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let a = ana.api.upload("big.bin", body.clone()).await.unwrap();
    let b = ana.api.upload("same.bin", body.clone()).await.unwrap();
    let pic = ana.api.upload("p.png", png(500, 100)).await.unwrap();
    ana.api
        .send(room.id, &attach(vec![a.id, pic.id]))
        .await
        .unwrap();
    let got = ana
        .api
        .get_raw(&a.url, &[])
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.len(), body.len());
    assert!(got.as_ref() == body.as_slice());
    let part = ana
        .api
        .get_raw(&a.url, &[("range", "bytes=1048576-1048675")])
        .await
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(
        part.bytes().await.unwrap().as_ref(),
        &body[1_048_576..1_048_676]
    );
    let thumb = ana
        .api
        .get_raw(pic.thumbnail_url.as_ref().unwrap(), &[])
        .await
        .unwrap();
    assert_eq!(thumb.status().as_u16(), 200);
    // Objects in the bucket: the shared content once, the picture, its thumbnail.
    let listing = reqwest::get(format!("{}/confab-test?list-type=2", s3.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(listing.matches("<Key>").count(), 3, "{listing}");
    // b was never attached: it expires, but the bytes stay for a, which shares them.
    let mut status = 200;
    for _ in 0..100 {
        status = ana
            .api
            .get_raw(&b.url, &[])
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404);
    assert_eq!(
        ana.api
            .get_raw(&a.url, &[])
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let _: Option<Attachment> = None;
}

/// A minimal Ogg Opus stream lasting `ms`.
fn ogg_opus(ms: i64) -> Vec<u8> {
    fn page(granule: i64, payload: &[u8]) -> Vec<u8> {
        let mut p = b"OggS\0\0".to_vec();
        p.extend_from_slice(&granule.to_le_bytes());
        p.extend_from_slice(&[0; 12]);
        p.push(1);
        p.push(payload.len() as u8);
        p.extend_from_slice(payload);
        p
    }
    let mut head = b"OpusHead\x01\x01".to_vec();
    head.extend_from_slice(&312u16.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    let mut f = page(0, &head);
    f.extend(page(ms * 48 + 312, b"audio"));
    f
}

/// A JPEG with an EXIF orientation tag.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Makes the database refuse every new file record, as a failing disk or a lost connection would.
async fn refuse_file_records(app: &TestApp) {
    use sqlx::Connection;
    match &app.db {
        Some(db) => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query(
                "CREATE FUNCTION refuse_file() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql",
            )
            .execute(&mut c)
            .await
            .unwrap();
            sqlx::query(
                "CREATE TRIGGER refuse_files BEFORE INSERT ON files \
                 FOR EACH ROW EXECUTE FUNCTION refuse_file()",
            )
            .execute(&mut c)
            .await
            .unwrap();
        }
        None => {
            let path = app.data_dir.path().join("confab.db");
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
                .await
                .unwrap();
            sqlx::query(
                "CREATE TRIGGER refuse_files BEFORE INSERT ON files \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            )
            .execute(&mut c)
            .await
            .unwrap();
        }
    }
}

async fn an_upload_whose_record_cannot_be_stored_leaves_no_bytes_behind(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana").await;
    let shared = png(40, 30);
    ana.api.upload("kept.png", shared.clone()).await.unwrap();
    assert_eq!(blobs(&app).len(), 1);
    refuse_file_records(&app).await;
    assert_eq!(
        code(ana.api.upload("new.png", png(50, 20)).await),
        "internal"
    );
    assert_eq!(code(ana.api.upload("same.png", shared).await), "internal");
    assert_eq!(
        blobs(&app).len(),
        1,
        "only the bytes a record still names are kept"
    );
    let thumbs = std::fs::read_dir(app.data_dir.path().join("files/thumbs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(thumbs, 1, "and only their thumbnail");
    let tmp = std::fs::read_dir(app.data_dir.path().join("tmp"))
        .unwrap()
        .count();
    assert_eq!(tmp, 0, "nothing staged is left");
}

/// The mode bits of `path`.
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_data_directory_is_readable_by_the_server_alone() {
    let app = Setup::new(Backend::Sqlite)
        .tweak(|c| c.data_dir = c.data_dir.join("data"))
        .start()
        .await;
    let ana = app.user("ana").await;
    let room = ana.api.create_room("private").await.unwrap();
    let pic = ana.api.upload("p.png", png(400, 100)).await.unwrap();
    ana.api.send(room.id, &attach(vec![pic.id])).await.unwrap();
    let dir = app.config.data_dir.clone();
    assert_eq!(mode(&dir), 0o700, "the data directory");
    for sub in ["files", "tmp"] {
        assert_eq!(mode(&dir.join(sub)), 0o700, "{sub}/");
    }
    for file in ["confab.db", "confab.db-wal", "confab.db-shm", "jwt_secret"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    let mut stored = Vec::new();
    for top in ["files/blobs", "files/thumbs"] {
        for entry in walk(&dir.join(top)) {
            stored.push(entry);
        }
    }
    assert!(stored.len() >= 2, "a blob and its thumbnail: {stored:?}");
    for path in stored {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&path), expected, "{}", path.display());
    }
}

/// Every file and folder under `root`.
fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// A PNG of `w`×`h` transparent pixels whose pixel data is one deflate stream of zeros: a few
/// bytes per kilobyte of image, as a decompression bomb is made.
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut table = [0u32; 256];
        for (i, slot) in table.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        let mut crc = !0u32;
        for b in bytes {
            crc = table[((crc ^ u32::from(*b)) & 0xFF) as usize] ^ (crc >> 8);
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    /// Deflate's bit order: fields least significant bit first, Huffman codes most significant first.
    struct Bits {
        out: Vec<u8>,
        acc: u32,
        n: u32,
    }
    impl Bits {
        fn field(&mut self, value: u32, len: u32) {
            for i in 0..len {
                self.bit((value >> i) & 1);
            }
        }
        fn code(&mut self, code: u32, len: u32) {
            for i in (0..len).rev() {
                self.bit((code >> i) & 1);
            }
        }
        fn bit(&mut self, b: u32) {
            self.acc |= b << self.n;
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                (self.acc, self.n) = (0, 0);
            }
        }
    }
    let zeros = u64::from(h) * (1 + 4 * u64::from(w));
    let mut bits = Bits {
        out: vec![0x78, 0x01],
        acc: 0,
        n: 0,
    };
    bits.field(1, 1); // the last block
    bits.field(1, 2); // fixed Huffman codes
    bits.code(0x30, 8); // literal 0
    let matches = (zeros - 1) / 258;
    for _ in 0..matches {
        bits.code(0b1100_0101, 8); // length 258
        bits.code(0, 5); // distance 1
    }
    for _ in 0..(zeros - 1) % 258 {
        bits.code(0x30, 8);
    }
    bits.code(0, 7); // end of block
    if bits.n > 0 {
        bits.out.push(bits.acc as u8);
    }
    let adler = (((zeros % 65_521) as u32) << 16) | 1;
    bits.out.extend_from_slice(&adler.to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &bits.out);
    chunk(&mut png, b"IEND", &[]);
    png
}

#[tokio::test]
async fn an_image_too_large_to_decode_is_measured_but_not_decoded() {
    let app = spawn_app(Backend::Sqlite).await;
    let ana = app.user("ana").await;
    let bomb = png_bomb(8000, 6000);
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    let started = std::time::Instant::now();
    let file = ana.api.upload("bomb.png", bomb).await.unwrap();
    assert_eq!(file.content_type, "image/png");
    assert_eq!((file.width, file.height), (Some(8000), Some(6000)));
    assert_eq!(
        file.thumbnail_url, None,
        "48 MP are past what a thumbnail needs"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A picture a phone takes is still thumbnailed.
    let photo = ana.api.upload("photo.png", png(1600, 1200)).await.unwrap();
    assert!(photo.thumbnail_url.is_some());
}
