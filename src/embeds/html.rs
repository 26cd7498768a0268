//! Reading a page's preview from its HTML: Open Graph tags first, then Twitter card tags, then
//! the plain `<title>` and `<meta name="description">`.
//!
//! The page is parsed by html5ever (through `scraper`), the HTML5 parsing algorithm browsers
//! use, so entities, odd quoting and broken markup read as a browser would read them. Text is
//! whitespace-collapsed and cut to the lengths of [`Embed`]; a relative picture URL is resolved
//! against the page's final URL, and only an `http(s)` one is kept (the fetcher checks it again
//! when it fetches it).

use scraper::{Html, Selector};

use crate::protocol::api::Embed;

/// What a page says about itself.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PageMeta {
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Site name.
    pub site_name: Option<String>,
    /// Picture URL, absolute.
    pub image: Option<reqwest::Url>,
}

impl PageMeta {
    /// Whether there is anything to show.
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.description.is_none() && self.image.is_none()
    }
}

/// The preview of the page `html` fetched from `base`.
pub fn read_meta(html: &str, base: &reqwest::Url) -> PageMeta {
    let doc = Html::parse_document(html);
    let meta = |keys: &[&str]| -> Option<String> {
        keys.iter().find_map(|key| {
            let selector = Selector::parse("meta").ok()?;
            doc.select(&selector).find_map(|el| {
                let v = el.value();
                let named = v.attr("property").or_else(|| v.attr("name"))?;
                if !named.trim().eq_ignore_ascii_case(key) {
                    return None;
                }
                v.attr("content")
                    .map(str::to_owned)
                    .filter(|c| !c.trim().is_empty())
            })
        })
    };
    let title_tag = Selector::parse("title").ok().and_then(|s| {
        doc.select(&s)
            .next()
            .map(|t| t.text().collect::<String>())
            .filter(|t| !t.trim().is_empty())
    });
    let title = meta(&["og:title", "twitter:title"]).or(title_tag);
    let description = meta(&["og:description", "twitter:description", "description"]);
    let image = meta(&[
        "og:image:secure_url",
        "og:image",
        "og:image:url",
        "twitter:image",
        "twitter:image:src",
    ])
    .and_then(|src| base.join(src.trim()).ok())
    .filter(|u| matches!(u.scheme(), "http" | "https"));
    PageMeta {
        title: title.map(|t| tidy(&t, Embed::MAX_TITLE)),
        description: description.map(|t| tidy(&t, Embed::MAX_DESCRIPTION)),
        site_name: meta(&["og:site_name"]).map(|t| tidy(&t, Embed::MAX_SITE_NAME)),
        image,
    }
}

/// `text` with its whitespace collapsed, control characters dropped, and cut to `max`
/// characters (an ellipsis marks the cut).
fn tidy(text: &str, max: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined: String = words
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if joined.chars().count() <= max {
        return joined;
    }
    let mut cut: String = joined.chars().take(max - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> reqwest::Url {
        "https://news.example/articles/1".parse().unwrap()
    }

    #[test]
    fn open_graph_tags_come_first_and_relative_images_resolve() {
        let html = r#"<html><head><title>Plain title</title>
            <meta property="og:title" content="Rust &amp; you">
            <meta name="twitter:title" content="Twitter title">
            <meta property="og:description" content="  A long
                 story  ">
            <meta property="og:site_name" content="News">
            <meta property="og:image" content="/img/cover.png">
            </head><body></body></html>"#;
        let meta = read_meta(html, &base());
        assert_eq!(meta.title.as_deref(), Some("Rust & you"));
        assert_eq!(meta.description.as_deref(), Some("A long story"));
        assert_eq!(meta.site_name.as_deref(), Some("News"));
        assert_eq!(
            meta.image.unwrap().as_str(),
            "https://news.example/img/cover.png"
        );
    }

    #[test]
    fn twitter_and_plain_html_are_fallbacks() {
        let html = r#"<title> Just a
            page </title><meta name="description" content="Described">
            <meta name="twitter:image" content="https://cdn.example/t.jpg">"#;
        let meta = read_meta(html, &base());
        assert_eq!(meta.title.as_deref(), Some("Just a page"));
        assert_eq!(meta.description.as_deref(), Some("Described"));
        assert_eq!(meta.site_name, None);
        assert_eq!(meta.image.unwrap().as_str(), "https://cdn.example/t.jpg");
    }

    #[test]
    fn long_text_is_cut_and_odd_images_are_dropped() {
        let long = "word ".repeat(500);
        let html = format!(
            r#"<meta property="og:title" content="{long}"><meta property="og:image" content="javascript:alert(1)">"#
        );
        let meta = read_meta(&html, &base());
        let title = meta.title.unwrap();
        assert_eq!(title.chars().count(), Embed::MAX_TITLE);
        assert!(title.ends_with('…'));
        assert_eq!(meta.image, None);
        assert!(read_meta("<p>nothing here</p>", &base()).is_empty());
    }
}
