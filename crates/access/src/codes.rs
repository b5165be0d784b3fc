//! Codes people type or read out to get access: recovery codes, share codes.
//!
//! `XXXX-XXXX-XXXX` in Crockford's base32 (no I, L, O or U: nothing reads as another
//! character), 60 random bits; typed in any case, with spaces or dashes, O for 0 and I or L
//! for 1. Stored only as a SHA-256 (the codes are random enough that a slow hash adds nothing).

use base64::Engine as _;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

use passerelle_core::ServiceError;
use passerelle_core::secrets::random;

/// A new code, `XXXX-XXXX-XXXX`.
pub fn new_code() -> Result<String, ServiceError> {
    let chars: Vec<char> = random::<12>()?
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect();
    Ok(chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// A long random token for links and QR codes (256 bits, URL-safe).
pub fn new_link_token() -> Result<String, ServiceError> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<32>()?))
}

/// A code as typed, in canonical form. Link tokens (longer than a code) are kept as they are.
pub fn normalize(typed: &str) -> String {
    let trimmed = typed.trim();
    if trimmed.len() > 20 {
        return trimmed.to_owned();
    }
    let raw: String = trimmed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    raw.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// The stored form of a code, optionally bound to a context (a username).
pub fn hash_in(context: &str, typed: &str) -> String {
    let text = format!("{context}:{}", normalize(typed));
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored form of a code of its own.
pub fn hash(typed: &str) -> String {
    hash_in("code", typed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_readable_and_forgiving_to_type() {
        let code = new_code().unwrap();
        assert_eq!(code.len(), 14);
        assert!(
            code.chars()
                .all(|c| c == '-' || ALPHABET.contains(&(c as u8))),
            "{code}"
        );
        assert_eq!(normalize(&code.to_lowercase().replace('-', " ")), code);
        assert_eq!(normalize("7kq4 m2xd 9pwa"), "7KQ4-M2XD-9PWA");
        assert_eq!(normalize("O0IL"), "0011");
        assert_eq!(hash("7kq4m2xd9pwa"), hash("7KQ4-M2XD-9PWA"));
        assert_ne!(
            hash_in("marie", "7KQ4-M2XD-9PWA"),
            hash_in("paul", "7KQ4-M2XD-9PWA")
        );
        let token = new_link_token().unwrap();
        assert_eq!(token.len(), 43);
        assert_eq!(normalize(&token), token, "tokens are not mangled");
    }
}
