//! The guarded HTTP client: one `GET` of a page or a picture, within the guard and the limits.
//!
//! The check and the connection must not come apart (DNS rebinding: a name that answers a
//! public address to the check and a private one to the connect). So reqwest does no lookup
//! of its own: [`GuardedResolver`] is its resolver, and it looks the name up once, refuses the
//! name if any address it has is denied, and hands reqwest only the addresses it checked, which
//! reqwest then connects to. An IP literal never reaches a resolver, so [`Guard::check_url`]
//! checks it. reqwest follows no redirects and uses no proxy: [`Fetcher::get`] follows at most
//! [`MAX_REDIRECTS`] by hand, checking each hop's scheme, port and address as the first. The
//! type is checked from the headers before the body is read, and the body is read chunk by
//! chunk up to a cap. The caller puts one deadline around all of it.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};

use super::guard::{Guard, Refused};

/// The most redirects followed for one fetch.
pub const MAX_REDIRECTS: usize = 3;

/// What the fetcher says it is, so a site's operator can tell what fetched their page.
pub const USER_AGENT: &str = concat!(
    "Mozilla/5.0 (compatible; ConfabLinkPreview/",
    env!("CARGO_PKG_VERSION"),
    "; +link previews of a self-hosted Confab chat server)"
);

/// Why a fetch gave nothing.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The guard refused a URL or address.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// More than [`MAX_REDIRECTS`] redirects, or one without a usable `Location`.
    #[error("too many or broken redirects")]
    Redirects,
    /// Not a success status.
    #[error("status {0}")]
    Status(u16),
    /// A type that is not wanted.
    #[error("content type {0:?} is not fetched")]
    Type(String),
    /// Declared (or found) larger than the cap.
    #[error("larger than {0} bytes")]
    TooLarge(usize),
    /// The connection or the request failed.
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
}

/// A body fetched, as far as the cap allowed.
#[derive(Debug)]
pub struct Fetched {
    /// The URL it came from, after redirects (relative links resolve against it).
    pub url: reqwest::Url,
    /// Its type, lower-cased, without parameters.
    pub content_type: String,
    /// Its bytes, at most the cap.
    pub body: Vec<u8>,
    /// Whether the body went past the cap and was cut there.
    pub cut: bool,
}

/// What to do with a body larger than the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverCap {
    /// Keep the first bytes (a page's head is at its start).
    Cut,
    /// Give nothing (half a picture is no picture).
    Refuse,
}

/// Name lookup, behind a seam so the rebinding tests can answer what they like.
pub trait Lookup: Send + Sync + 'static {
    /// The addresses of `host`.
    fn lookup(
        &self,
        host: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;
}

/// The system's resolver (through tokio's blocking pool).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(
        &self,
        host: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// reqwest's resolver: looks a name up once and passes on only checked addresses.
pub struct GuardedResolver {
    guard: Arc<Guard>,
    lookup: Arc<dyn Lookup>,
}

impl GuardedResolver {
    /// Resolves through `lookup`, checking with `guard`.
    pub fn new(guard: Arc<Guard>, lookup: Arc<dyn Lookup>) -> GuardedResolver {
        GuardedResolver { guard, lookup }
    }

    /// The addresses of `host` to connect to: all of them checked, or an error if any is
    /// denied (a name with one private address is refused whole, so which address a connect
    /// picks cannot matter).
    pub async fn checked(&self, host: &str) -> Result<Vec<SocketAddr>, FetchError> {
        let addrs = self
            .lookup
            .lookup(host.to_owned())
            .await
            .map_err(|_| Refused::NoHost)?;
        if addrs.is_empty() {
            return Err(Refused::NoHost.into());
        }
        for ip in &addrs {
            self.guard.check_ip(*ip)?;
        }
        Ok(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect())
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = GuardedResolver {
            guard: self.guard.clone(),
            lookup: self.lookup.clone(),
        };
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = this.checked(&host).await.map_err(Box::new)?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The guarded client.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    guard: Arc<Guard>,
}

impl Fetcher {
    /// A client that connects only where `guard` allows, resolving through `lookup`.
    pub fn new(
        guard: Guard,
        lookup: Arc<dyn Lookup>,
        timeout: Duration,
    ) -> Result<Fetcher, reqwest::Error> {
        let guard = Arc::new(guard);
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver::new(guard.clone(), lookup)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(USER_AGENT)
            .connect_timeout(timeout)
            .timeout(timeout)
            .pool_max_idle_per_host(0)
            .build()?;
        Ok(Fetcher { client, guard })
    }

    /// `GET url` (following redirects), if `limit` has a cap for its type (lower-cased, without
    /// parameters): reading at most that many bytes of it, and then cutting or refusing.
    pub async fn get(
        &self,
        url: reqwest::Url,
        accept: &'static str,
        limit: impl Fn(&str) -> Option<(usize, OverCap)>,
    ) -> Result<Fetched, FetchError> {
        let mut url = url;
        let mut hops = 0;
        let response = loop {
            self.guard.check_url(&url)?;
            let response = self
                .client
                .get(url.clone())
                .header(reqwest::header::ACCEPT, accept)
                .send()
                .await?;
            if !response.status().is_redirection() {
                break response;
            }
            hops += 1;
            let next = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| url.join(v).ok());
            match next {
                Some(next) if hops <= MAX_REDIRECTS => url = next,
                _ => return Err(FetchError::Redirects),
            }
        };
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let Some((cap, over)) = limit(&content_type) else {
            return Err(FetchError::Type(content_type));
        };
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if over == OverCap::Refuse && declared.is_some_and(|n| n > cap as u64) {
            return Err(FetchError::TooLarge(cap));
        }
        let (body, cut) = read_capped(response, cap).await?;
        if cut && over == OverCap::Refuse {
            return Err(FetchError::TooLarge(cap));
        }
        Ok(Fetched {
            url,
            content_type,
            body,
            cut,
        })
    }
}

/// The body up to `cap` bytes, and whether there was more (the rest is never read: the
/// connection is dropped).
async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), FetchError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers each lookup with the next list it was given.
    struct Scripted(Mutex<Vec<Vec<IpAddr>>>);

    impl Lookup for Scripted {
        fn lookup(
            &self,
            _host: String,
        ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
            let next = self.0.lock().unwrap().remove(0);
            Box::pin(async move { Ok(next) })
        }
    }

    fn resolver(answers: Vec<Vec<&str>>) -> GuardedResolver {
        let answers = answers
            .into_iter()
            .map(|a| a.into_iter().map(|ip| ip.parse().unwrap()).collect())
            .collect();
        GuardedResolver::new(
            Arc::new(Guard::default()),
            Arc::new(Scripted(Mutex::new(answers))),
        )
    }

    #[tokio::test]
    async fn a_name_with_any_private_address_is_refused() {
        let r = resolver(vec![vec!["93.184.216.34", "10.0.0.1"]]);
        assert!(matches!(
            r.checked("rebind.example").await,
            Err(FetchError::Refused(Refused::Address(_)))
        ));
        let r = resolver(vec![vec!["2606:4700::1", "::ffff:127.0.0.1"]]);
        assert!(r.checked("mapped.example").await.is_err());
    }

    #[tokio::test]
    async fn a_name_that_turns_private_on_its_second_lookup_is_refused_then() {
        // DNS rebinding: public to the first question, private to the next. Each lookup is
        // checked, and a connection only ever gets the addresses of the lookup that passed.
        let r = resolver(vec![vec!["93.184.216.34"], vec!["127.0.0.1"]]);
        let first = r.checked("rebind.example").await.unwrap();
        assert_eq!(first, [SocketAddr::from(([93, 184, 216, 34], 0))]);
        assert!(matches!(
            r.checked("rebind.example").await,
            Err(FetchError::Refused(Refused::Address(ip))) if ip == IpAddr::from([127, 0, 0, 1])
        ));
    }

    #[tokio::test]
    async fn the_resolver_reqwest_uses_passes_on_only_checked_addresses() {
        use reqwest::dns::Resolve;
        let r = resolver(vec![
            vec!["93.184.216.34", "2606:4700::1"],
            vec!["169.254.169.254"],
        ]);
        let name = || "ok.example".parse::<reqwest::dns::Name>().unwrap();
        let addrs: Vec<SocketAddr> = r.resolve(name()).await.unwrap().collect();
        assert_eq!(addrs.len(), 2);
        assert!(
            addrs
                .iter()
                .all(|a| !super::super::guard::is_denied(a.ip()))
        );
        assert!(r.resolve(name()).await.is_err());
    }

    #[tokio::test]
    async fn a_name_with_no_address_is_refused() {
        let r = resolver(vec![vec![]]);
        assert!(r.checked("empty.example").await.is_err());
    }

    fn html_only(t: &str) -> Option<(usize, OverCap)> {
        (t == "text/html").then_some((1024, OverCap::Cut))
    }

    #[tokio::test]
    async fn a_private_literal_is_refused_before_any_connection() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let fetcher = Fetcher::new(
            Guard::default(),
            Arc::new(SystemLookup),
            Duration::from_secs(1),
        )
        .unwrap();
        for url in [
            "http://127.0.0.1/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            let err = fetcher
                .get(url.parse().unwrap(), "text/html", html_only)
                .await
                .unwrap_err();
            assert!(
                matches!(err, FetchError::Refused(Refused::Address(_))),
                "{url}: {err}"
            );
        }
        let err = fetcher
            .get(
                "http://localhost:8080/".parse().unwrap(),
                "text/html",
                html_only,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Refused(Refused::Port(8080))),
            "{err}"
        );
    }
}
