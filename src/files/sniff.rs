//! What a file is, from its bytes, and what it may be called.
//!
//! The client's content type is never trusted: the type comes from the first bytes (magic numbers,
//! through `infer`). Text that is no known format is `text/plain`, anything else
//! `application/octet-stream`, so an HTML or SVG file can never be served as a page of this origin.

/// How many leading bytes are kept for sniffing.
pub const SNIFF_BYTES: usize = 8192;

/// The content type of a file whose first bytes are `head`.
pub fn content_type(head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        let mime = kind.mime_type();
        // Formats that can carry script are never served as themselves.
        if mime.contains("html") || mime.contains("xml") || mime.contains("svg") {
            return if looks_like_text(head) {
                "text/plain; charset=utf-8".into()
            } else {
                "application/octet-stream".into()
            };
        }
        // infer names Ogg Opus `audio/opus`; browsers play it as the container it is.
        if mime == "audio/opus" {
            return "audio/ogg".into();
        }
        return mime.to_owned();
    }
    if looks_like_text(head) {
        "text/plain; charset=utf-8".into()
    } else {
        "application/octet-stream".into()
    }
}

/// UTF-8 without NUL (the tail of `head` may cut a character in two).
fn looks_like_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > head.len(),
    }
}

/// Whether browsers may show the type inline (images, audio, video); everything else downloads.
pub fn inline(content_type: &str) -> bool {
    ["image/", "audio/", "video/"]
        .iter()
        .any(|p| content_type.starts_with(p))
}

/// A file name safe to store and to echo in `Content-Disposition`: no path, no control
/// characters, no characters that file systems reserve, not hidden, at most 200 bytes.
pub fn sanitize_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut name: String = base
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') {
                '_'
            } else {
                c
            }
        })
        .collect();
    name = name.trim().trim_start_matches('.').trim().to_owned();
    while name.len() > 200 {
        name.pop();
    }
    if name.is_empty() { "file".into() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(content_type(png), "image/png");
        assert_eq!(
            content_type(b"<html><script>alert(1)</script></html>"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            content_type(b"\0\x01\x02binary"),
            "application/octet-stream"
        );
        assert_eq!(
            content_type("héllo wörld".as_bytes()),
            "text/plain; charset=utf-8"
        );
    }

    #[test]
    fn only_media_is_inline() {
        assert!(inline("image/png"));
        assert!(inline("audio/ogg"));
        assert!(!inline("text/plain; charset=utf-8"));
        assert!(!inline("application/pdf"));
    }

    #[test]
    fn names_lose_paths_and_dangerous_characters() {
        assert_eq!(sanitize_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_name("C:\\Users\\x\\report.pdf"), "report.pdf");
        assert_eq!(sanitize_name(".hidden"), "hidden");
        assert_eq!(sanitize_name("a\u{0}b<c>.txt"), "a_b_c_.txt");
        assert_eq!(sanitize_name("   "), "file");
        assert!(sanitize_name(&"é".repeat(300)).len() <= 200);
    }
}
