//! The burgerservicenummer: checked with the 11-proef, kept in a type that never prints it,
//! stored encrypted (ChaCha20-Poly1305) with a keyed hash (HMAC-SHA-256) for exact lookup.
//!
//! Both keys are derived from one 32-byte key in the configuration (`privacy.bsn_key`), so a
//! database dump alone reveals neither the numbers nor a way to test guesses against the
//! hashes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a BSN or the key is refused. The messages are Dutch: users read them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BsnError {
    #[error("een BSN heeft 9 cijfers (8 mag ook, met een 0 ervoor)")]
    Length,
    #[error("dit BSN klopt niet: het voldoet niet aan de 11-proef")]
    Checksum,
    #[error(
        "er is geen BSN-sleutel ingesteld (privacy.bsn_key of DOORLOOP_BSN_KEY); zonder sleutel bewaart Doorloop geen BSN"
    )]
    NoKey,
    #[error(
        "de BSN-sleutel moet 32 bytes zijn, als base64 geschreven (bijvoorbeeld uit `openssl rand -base64 32`)"
    )]
    BadKey,
    #[error("een opgeslagen BSN kan met deze sleutel niet worden gelezen (is de sleutel gewijzigd?)")]
    Undecryptable,
}

/// A burgerservicenummer that passed the 11-proef. `Debug` masks it; there is no `Display`:
/// the only way to the digits is [`Bsn::expose`], called where a screen with the right to see
/// it renders it.
#[derive(Clone, PartialEq, Eq)]
pub struct Bsn(String);

impl std::fmt::Debug for Bsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bsn(*********)")
    }
}

impl Bsn {
    /// Reads a BSN as people type it: spaces, dots and dashes between digits are ignored;
    /// eight digits get a leading zero.
    pub fn parse(text: &str) -> Result<Bsn, BsnError> {
        let digits: String = text.chars().filter(|c| !matches!(c, ' ' | '.' | '-')).collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(BsnError::Length);
        }
        let digits = match digits.len() {
            9 => digits,
            8 => format!("0{digits}"),
            _ => return Err(BsnError::Length),
        };
        if !elf_proef(&digits) {
            return Err(BsnError::Checksum);
        }
        Ok(Bsn(digits))
    }

    /// Whether a text looks like someone typed a BSN (8 or 9 digits, maybe with separators),
    /// right or wrong: a search for it must not fall back to a name search.
    pub fn looks_like(text: &str) -> bool {
        let digits = text.chars().filter(char::is_ascii_digit).count();
        (8..=9).contains(&digits)
            && text
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '.' | '-'))
    }

    /// The nine digits.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last three digits with the rest masked, for people who may know that a BSN is
    /// recorded but not which.
    pub fn masked(&self) -> String {
        format!("******{}", &self.0[6..])
    }
}

/// The 11-proef for a BSN: 9·d1 + 8·d2 + … + 2·d8 − 1·d9 is a multiple of 11 (and not 0).
fn elf_proef(digits: &str) -> bool {
    let d: Vec<i64> = digits.bytes().map(|b| i64::from(b - b'0')).collect();
    if d.len() != 9 {
        return false;
    }
    let sum: i64 = d[..8].iter().zip((2..=9).rev()).map(|(x, w)| x * w).sum::<i64>() - d[8];
    sum != 0 && sum % 11 == 0
}

/// Encrypts, decrypts and hashes BSNs with keys derived from the configured key.
#[derive(Clone)]
pub struct BsnVault {
    cipher: ChaCha20Poly1305,
    mac_key: [u8; 32],
}

impl std::fmt::Debug for BsnVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BsnVault(..)")
    }
}

/// A stored BSN: ciphertext for reading back, keyed hash for exact lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBsn {
    pub cipher: String,
    pub hash: String,
}

impl BsnVault {
    /// From the configured key: 32 bytes written as base64.
    pub fn from_base64(key: &str) -> Result<BsnVault, BsnError> {
        let raw = B64.decode(key.trim()).map_err(|_| BsnError::BadKey)?;
        let master: [u8; 32] = raw.try_into().map_err(|_| BsnError::BadKey)?;
        Ok(BsnVault::from_key(&master))
    }

    pub fn from_key(master: &[u8; 32]) -> BsnVault {
        let enc = derive(master, b"doorloop bsn encryption v1");
        BsnVault {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&enc)),
            mac_key: derive(master, b"doorloop bsn lookup v1"),
        }
    }

    /// A fresh random key as base64, for a new installation.
    pub fn generate_key() -> String {
        B64.encode(ChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// The keyed hash that finds a resident by exact BSN.
    pub fn lookup_hash(&self, bsn: &Bsn) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.mac_key).unwrap_or_else(|_| unreachable!());
        mac.update(bsn.0.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    pub fn seal(&self, bsn: &Bsn) -> Result<SealedBsn, BsnError> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = self
            .cipher
            .encrypt(&nonce, bsn.0.as_bytes())
            .map_err(|_| BsnError::Undecryptable)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(SealedBsn {
            cipher: B64.encode(out),
            hash: self.lookup_hash(bsn),
        })
    }

    pub fn open(&self, cipher: &str) -> Result<Bsn, BsnError> {
        let raw = B64.decode(cipher).map_err(|_| BsnError::Undecryptable)?;
        if raw.len() < 12 {
            return Err(BsnError::Undecryptable);
        }
        let (nonce, ct) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| BsnError::Undecryptable)?;
        let text = String::from_utf8(plain).map_err(|_| BsnError::Undecryptable)?;
        Bsn::parse(&text).map_err(|_| BsnError::Undecryptable)
    }
}

fn derive(master: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).unwrap_or_else(|_| unreachable!());
    mac.update(label);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_11_proef_accepts_valid_numbers_and_refuses_typos() {
        // 111222333: 9+8+7·1… the classic test number.
        assert!(Bsn::parse("111222333").is_ok());
        assert!(Bsn::parse("1112.22.333").is_ok());
        assert_eq!(Bsn::parse("111222334"), Err(BsnError::Checksum));
        assert_eq!(Bsn::parse("12345"), Err(BsnError::Length));
        assert_eq!(Bsn::parse("abcdefghi"), Err(BsnError::Length));
        assert_eq!(
            Bsn::parse("000000000"),
            Err(BsnError::Checksum),
            "all zeros sums to 0"
        );
        // Eight digits get a leading zero.
        let eight = Bsn::parse("12345672").map(|b| b.expose().to_owned());
        assert_eq!(eight, Ok("012345672".to_owned()));
    }

    #[test]
    fn debug_never_shows_the_number() {
        let bsn = Bsn::parse("111222333").unwrap();
        assert!(!format!("{bsn:?}").contains("111"));
        assert_eq!(bsn.masked(), "******333");
    }

    #[test]
    fn sealed_numbers_open_with_the_key_and_not_without() {
        let vault = BsnVault::from_key(&[7; 32]);
        let bsn = Bsn::parse("111222333").unwrap();
        let a = vault.seal(&bsn).unwrap();
        let b = vault.seal(&bsn).unwrap();
        assert_ne!(a.cipher, b.cipher, "a fresh nonce per seal");
        assert_eq!(a.hash, b.hash, "the lookup hash is stable");
        assert!(!a.cipher.contains("111222333") && !a.hash.contains("111222333"));
        assert_eq!(vault.open(&a.cipher).unwrap(), bsn);
        let other = BsnVault::from_key(&[8; 32]);
        assert_eq!(other.open(&a.cipher), Err(BsnError::Undecryptable));
        assert_ne!(other.lookup_hash(&bsn), a.hash);
    }

    #[test]
    fn keys_are_32_bytes_of_base64() {
        assert!(BsnVault::from_base64(&BsnVault::generate_key()).is_ok());
        assert_eq!(BsnVault::from_base64("kort").map(|_| ()), Err(BsnError::BadKey));
    }
}
