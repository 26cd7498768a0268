//! Finding the links of a message body that get a preview.
//!
//! A link is an `http://` or `https://` URL in the text, up to whitespace or one of `<>"`, less
//! the sentence punctuation that follows it (`.,;:!?'` and a `)` that closes nothing opened in
//! the URL). Links the sender wrapped in angle brackets (`<https://…>`, as Discord does) and
//! links inside inline code or fenced code blocks get no preview: the sender quoted them as text.
//! Each link counts once, and only the first [`MAX_PREVIEWED`] are returned. Whether a link may
//! be fetched (its address, its port) is decided by the fetcher, not here.

/// How many links of one message get a preview.
pub const MAX_PREVIEWED: usize = 3;

/// The longest URL looked at; longer ones are not previewed.
pub const MAX_URL_LEN: usize = 2048;

/// The links of `body` to preview, in order, each once, at most [`MAX_PREVIEWED`].
pub fn preview_links(body: &str) -> Vec<String> {
    let mut found = Vec::new();
    for text in prose(body) {
        for part in outside_inline_code(text) {
            links_in(part, &mut found);
            if found.len() >= MAX_PREVIEWED {
                found.truncate(MAX_PREVIEWED);
                return found;
            }
        }
    }
    found
}

/// The lines of `body` outside fenced code blocks (a fence needs its closing line, as the web
/// client renders it).
fn prose(body: &str) -> Vec<&str> {
    let lines: Vec<&str> = body.split('\n').collect();
    let is_fence = |l: &str| l.trim_start().starts_with("```");
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if is_fence(lines[i])
            && let Some(close) = lines[i + 1..].iter().position(|l| is_fence(l))
        {
            i += close + 2;
            continue;
        }
        out.push(lines[i]);
        i += 1;
    }
    out
}

/// The parts of a line outside `inline code` spans (an unmatched backtick is text).
fn outside_inline_code(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find('`') {
        let after = &rest[open + 1..];
        match after.find('`') {
            Some(close) => {
                out.push(&rest[..open]);
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

fn links_in(text: &str, found: &mut Vec<String>) {
    let mut from = 0;
    while let Some(start) = next_scheme(&text[from..]).map(|i| i + from) {
        let rest = &text[start..];
        let len = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
            .unwrap_or(rest.len());
        let url = trim_punctuation(&rest[..len]);
        from = start + len.max(1);
        let bracketed = text[..start].ends_with('<') && text[start + url.len()..].starts_with('>');
        let word_start = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        if bracketed || !word_start || url.len() > MAX_URL_LEN || !has_host(url) {
            continue;
        }
        if !found.iter().any(|f| f == url) {
            found.push(url.to_owned());
        }
    }
}

/// Where the next `http://` or `https://` starts (ASCII case-insensitive).
fn next_scheme(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    match (lower.find("http://"), lower.find("https://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Something after the scheme: `https://` alone is no link.
fn has_host(url: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(_, rest)| rest.chars().next().is_some_and(|c| c != '/'))
}

/// `url` without the punctuation of the sentence around it.
fn trim_punctuation(mut url: &str) -> &str {
    loop {
        let Some(last) = url.chars().next_back() else {
            return url;
        };
        let unbalanced_paren = last == ')' && url.matches('(').count() < url.matches(')').count();
        if matches!(
            last,
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*' | '_' | '~'
        ) || unbalanced_paren
        {
            url = &url[..url.len() - last.len_utf8()];
        } else {
            return url;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_found_in_order_once_each_and_at_most_three() {
        let body = "see https://a.example/x, and http://b.example/y. Again https://a.example/x \
                    then HTTPS://c.example and https://d.example";
        assert_eq!(
            preview_links(body),
            [
                "https://a.example/x",
                "http://b.example/y",
                "HTTPS://c.example"
            ]
        );
    }

    #[test]
    fn sentence_punctuation_and_unopened_parens_are_not_part_of_a_link() {
        assert_eq!(
            preview_links("(see https://en.example/wiki/Rust_(language))."),
            ["https://en.example/wiki/Rust_(language)"]
        );
        assert_eq!(
            preview_links("\"https://a.example/q?x=1\"!"),
            ["https://a.example/q?x=1"]
        );
    }

    #[test]
    fn bracketed_links_and_code_get_no_preview() {
        assert!(preview_links("quiet <https://a.example/page>").is_empty());
        assert!(preview_links("run `curl https://a.example/x` now").is_empty());
        assert!(preview_links("```\nhttps://a.example/in-block\n```").is_empty());
        assert_eq!(
            preview_links("<https://a.example/q> but https://b.example/loud"),
            ["https://b.example/loud"]
        );
        // An unclosed fence or backtick is text, as the client shows it.
        assert_eq!(
            preview_links("```\nhttps://a.example/open"),
            ["https://a.example/open"]
        );
        assert_eq!(
            preview_links("a ` then https://a.example/tick"),
            ["https://a.example/tick"]
        );
    }

    #[test]
    fn other_schemes_and_embedded_schemes_are_not_links() {
        assert!(preview_links("ftp://a.example javascript:alert(1) https:// x").is_empty());
        assert!(preview_links("xhttps://a.example").is_empty());
        assert!(preview_links(&format!("https://a.example/{}", "x".repeat(3000))).is_empty());
    }
}
