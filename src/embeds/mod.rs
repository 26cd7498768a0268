//! Link previews: fetching a linked page and its picture from the outside world, safely.
//!
//! [`Previewer::preview`] takes a URL from a message and gives what its preview shows: the
//! page's title, description and site name ([`html`]) and its picture, fetched once, shrunk and
//! re-encoded (`files::media::preview_image`), so a reader's browser never contacts the linked
//! site. Every request goes through the guarded client ([`fetch`]), whose [`guard`] keeps it to
//! public addresses on ports 80 and 443, and the whole preview, page and picture and redirects,
//! runs within one deadline ([`Limits::timeout`], 5 s). Pages are read up to 1 MiB, pictures up
//! to 5 MiB, and only HTML and the picture types Confab decodes are read at all.
//!
//! What this module does not own: which links of a message are previewed
//! (`protocol::links`), the cache of results and the previews of each message (the store), and
//! the queue and workers that run previews off the send path (`service::embeds`).

pub mod fetch;
pub mod guard;
pub mod html;

use std::sync::Arc;
use std::time::Duration;

use fetch::{FetchError, Fetcher, OverCap};
pub use guard::Guard;

/// The most HTML read of a page.
pub const MAX_HTML: usize = 1024 * 1024;
/// The largest picture fetched.
pub const MAX_IMAGE: usize = 5 * 1024 * 1024;
/// The page types read.
const HTML_TYPES: [&str; 2] = ["text/html", "application/xhtml+xml"];
/// The picture types read: those `files::media` decodes.
const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/webp", "image/gif"];

/// How far a preview may go.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Everything for one link: page, redirects and picture.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            timeout: Duration::from_secs(5),
        }
    }
}

/// What a link's preview shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preview {
    /// The page's title.
    pub title: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Its site name.
    pub site_name: Option<String>,
    /// Its picture, re-encoded: bytes, type, width, height.
    pub image: Option<(Vec<u8>, &'static str, u32, u32)>,
}

/// Fetches previews.
#[derive(Clone)]
pub struct Previewer {
    fetcher: Fetcher,
    limits: Limits,
    /// Decoding pictures is CPU work on the blocking pool: one per core at a time.
    decodes: Arc<tokio::sync::Semaphore>,
}

impl Previewer {
    /// A previewer that fetches only where `guard` allows, through the system resolver.
    pub fn new(guard: Guard, limits: Limits) -> Result<Previewer, reqwest::Error> {
        Self::with_lookup(guard, limits, Arc::new(fetch::SystemLookup))
    }

    /// The same, resolving names through `lookup`.
    pub fn with_lookup(
        guard: Guard,
        limits: Limits,
        lookup: Arc<dyn fetch::Lookup>,
    ) -> Result<Previewer, reqwest::Error> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Previewer {
            fetcher: Fetcher::new(guard, lookup, limits.timeout)?,
            limits,
            decodes: Arc::new(tokio::sync::Semaphore::new(cores)),
        })
    }

    /// The preview of `url`, or `None` when there is nothing to show (refused, failed, timed
    /// out, not a page or picture, or a page that says nothing about itself). The deadline
    /// covers the network (page, redirects, picture); shrinking the picture comes after it.
    pub async fn preview(&self, url: &str) -> Option<Preview> {
        let url: reqwest::Url = url.parse().ok()?;
        let (meta, picture) =
            match tokio::time::timeout(self.limits.timeout, self.fetch(url.clone())).await {
                Ok(Ok(found)) => found?,
                Ok(Err(e)) => {
                    tracing::debug!(url = %url, error = %e, "no link preview");
                    return None;
                }
                Err(_) => {
                    tracing::debug!(url = %url, "link preview timed out");
                    return None;
                }
            };
        let image = match picture {
            Some(bytes) => self.shrink(bytes).await,
            None => None,
        };
        if meta.is_empty() && image.is_none() {
            return None;
        }
        Some(Preview {
            title: meta.title,
            description: meta.description,
            site_name: meta.site_name,
            image,
        })
    }

    /// What the page says and its picture's bytes; `None` when a page says nothing.
    async fn fetch(
        &self,
        url: reqwest::Url,
    ) -> Result<Option<(html::PageMeta, Option<Vec<u8>>)>, FetchError> {
        let accept =
            "text/html,application/xhtml+xml,image/png,image/jpeg,image/webp,image/gif;q=0.9";
        // A page is cut at its cap (its head is at its start); a picture linked directly is
        // refused past its own (half a picture is none).
        let page = self
            .fetcher
            .get(url, accept, |t| {
                if HTML_TYPES.contains(&t) {
                    Some((MAX_HTML, OverCap::Cut))
                } else if IMAGE_TYPES.contains(&t) {
                    Some((MAX_IMAGE, OverCap::Refuse))
                } else {
                    None
                }
            })
            .await?;
        if IMAGE_TYPES.contains(&page.content_type.as_str()) {
            return Ok(Some((html::PageMeta::default(), Some(page.body))));
        }
        let meta = html::read_meta(&String::from_utf8_lossy(&page.body), &page.url);
        if meta.is_empty() {
            return Ok(None);
        }
        let picture = match &meta.image {
            Some(src) => self.fetch_image(src.clone()).await,
            None => None,
        };
        Ok(Some((meta, picture)))
    }

    /// A page's picture's bytes; `None` on any failure (the page still previews).
    async fn fetch_image(&self, src: reqwest::Url) -> Option<Vec<u8>> {
        let accept = "image/png,image/jpeg,image/webp,image/gif";
        match self
            .fetcher
            .get(src.clone(), accept, |t| {
                IMAGE_TYPES
                    .contains(&t)
                    .then_some((MAX_IMAGE, OverCap::Refuse))
            })
            .await
        {
            Ok(fetched) => Some(fetched.body),
            Err(e) => {
                tracing::debug!(url = %src, error = %e, "no link preview picture");
                None
            }
        }
    }

    async fn shrink(&self, bytes: Vec<u8>) -> Option<(Vec<u8>, &'static str, u32, u32)> {
        let _permit = self.decodes.acquire().await.ok()?;
        tokio::task::spawn_blocking(move || crate::files::media::preview_image(&bytes))
            .await
            .ok()
            .flatten()
    }
}
