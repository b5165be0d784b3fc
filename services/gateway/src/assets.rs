//! The style sheet, the script and the pictograms, bundled in the binary: no CDN, no external
//! font, nothing fetched from elsewhere. Their addresses carry a hash of their bytes, so they
//! are cached for good and a new version is fetched at once.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// `(name, content type, bytes)` of every bundled file.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "passerelle.css",
        "text/css; charset=utf-8",
        include_bytes!("../static/passerelle.css"),
    ),
    (
        "passerelle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/passerelle.js"),
    ),
    (
        "icons.svg",
        "image/svg+xml",
        include_bytes!("../static/icons.svg"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../static/favicon.svg"),
    ),
];

fn short_hash(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

static VERSIONED: LazyLock<Vec<(String, &'static str)>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(name, _, bytes)| (format!("/static/{name}?v={}", short_hash(bytes)), *name))
        .collect()
});

/// The address of bundled file `name`, with its version.
pub fn url(name: &str) -> &'static str {
    VERSIONED
        .iter()
        .find(|(_, n)| *n == name)
        .map_or("/static/missing", |(url, _)| url.as_str())
}

/// The bytes of every page's style sheet and script, for the page-weight budget.
pub fn weight(name: &str) -> usize {
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or(0, |(_, _, bytes)| bytes.len())
}

/// `GET /static/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_has_a_versioned_address() {
        for (name, _, _) in FILES {
            let url = url(name);
            assert!(url.starts_with(&format!("/static/{name}?v=")), "{url}");
        }
        assert_eq!(url("nothing.css"), "/static/missing");
    }
}
