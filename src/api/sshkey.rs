//! Key pair material as Nova's `nova/crypto.py` handles it: the fingerprint of an imported SSH
//! public key or X.509 certificate, and server-side generation of a key pair.
//!
//! Core worker, called by the `os-keypairs` create handler only; pure functions over the
//! request's text, no I/O but the operating system's random source when generating.
//!
//! - SSH (`type: ssh`): the key line must parse the way `cryptography`'s
//!   `load_ssh_public_key` parses it (`<type> <base64 blob>[ <comment>]`, a known key type,
//!   the blob's own type equal to the line's, every field of that type present, nothing after
//!   them). The fingerprint is Nova's: MD5 of the base64-decoded second space-separated field,
//!   as colon-separated lowercase hex. Curve points and DSA groups are checked for shape
//!   (lengths, ranges), not on the curve.
//! - X.509 (`type: x509`): the first PEM `CERTIFICATE` block, its DER checked for the
//!   certificate's outer structure; the fingerprint is SHA-1 of the DER, colon-separated hex.
//! - Generation: Nova makes an RSA-2048 key (PEM `RSA PRIVATE KEY`). Here an **Ed25519** key
//!   is generated instead (microseconds instead of a blocked core for a prime search): the
//!   private key in OpenSSH's format, the public key as `ssh-ed25519 <blob> Generated-by-Nova`;
//!   for `type: x509` a self-signed Ed25519 certificate with `CN=<user_id>`, client-auth usage
//!   and the UPN `<user_id>@localhost` (Nova's WinRM certificate profile), the private key as
//!   PKCS#8 PEM.
//!
//! Failures carry Nova's `InvalidKeypair` reason (the API adds "Keypair data is invalid: ").
//! Nothing here panics on request data or logs key material. No `unsafe`.

use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};
use md5::{Digest, Md5};
use sha1::Sha1;

/// Nova's reason for an SSH public key it cannot fingerprint.
pub const SSH_INVALID: &str = "failed to generate fingerprint";

/// The comment Nova puts on generated public keys.
const GENERATED_COMMENT: &str = "Generated-by-Nova";

/// What `cryptography` says of a PEM text without a certificate block.
const PEM_FRAMING: &str = "Unable to load PEM file. See \
    https://cryptography.io/en/latest/faq/#why-can-t-i-import-my-pem-file for more details. \
    MalformedFraming";

/// A generated key pair.
#[derive(Debug)]
pub struct Generated {
    /// The private key, PEM.
    pub private_key: String,
    /// The public key (an OpenSSH line, or a PEM certificate).
    pub public_key: String,
    /// Its fingerprint, as Nova computes it for the type.
    pub fingerprint: String,
}

// ---------------------------------------------------------------------------------------------
// Fingerprints
// ---------------------------------------------------------------------------------------------

/// Nova's `generate_fingerprint`: validates an OpenSSH public key line and returns the MD5
/// fingerprint of its blob; `Err` carries Nova's reason.
pub fn ssh_fingerprint(public_key: &str) -> Result<String, &'static str> {
    check_ssh_public_key(public_key).map_err(|_| SSH_INVALID)?;
    // Nova hashes `public_key.split(' ')[1]`, decoded leniently.
    let field = public_key.split(' ').nth(1).ok_or(SSH_INVALID)?;
    let blob = decode_base64_lenient(field.as_bytes()).ok_or(SSH_INVALID)?;
    Ok(colon_hex(&Md5::digest(&blob)))
}

/// Nova's `generate_x509_fingerprint`: SHA-1 of the certificate's DER; `Err` carries Nova's
/// reason.
pub fn x509_fingerprint(pem: &str) -> Result<String, String> {
    let der = certificate_der(pem)
        .map_err(|why| format!("failed to generate X509 fingerprint. Error message: {why}"))?;
    Ok(colon_hex(&Sha1::digest(&der)))
}

/// `aa:bb:…`, lowercase.
fn colon_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// The key types `load_ssh_public_key` knows, and how each blob continues after its type.
#[derive(Clone, Copy)]
enum Shape {
    Rsa,
    Dsa,
    Ecdsa(&'static str, usize),
    Ed25519,
    SkEcdsa,
    SkEd25519,
}

fn shape_of(key_type: &[u8]) -> Option<Shape> {
    Some(match key_type {
        b"ssh-rsa" => Shape::Rsa,
        b"ssh-dss" => Shape::Dsa,
        b"ecdsa-sha2-nistp256" => Shape::Ecdsa("nistp256", 32),
        b"ecdsa-sha2-nistp384" => Shape::Ecdsa("nistp384", 48),
        b"ecdsa-sha2-nistp521" => Shape::Ecdsa("nistp521", 66),
        b"ssh-ed25519" => Shape::Ed25519,
        b"sk-ecdsa-sha2-nistp256@openssh.com" => Shape::SkEcdsa,
        b"sk-ssh-ed25519@openssh.com" => Shape::SkEd25519,
        _ => return None,
    })
}

/// Why a key line was refused (never shown: Nova reports one fixed reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyLine {
    Format,
    UnknownType,
    Base64,
    Field,
    TypeMismatch,
    Value,
    ExtraBytes,
}

/// `cryptography`'s `load_ssh_public_key`, as far as its acceptance goes.
fn check_ssh_public_key(line: &str) -> Result<(), KeyLine> {
    // `\A(\S+)[ \t]+(\S+)`: the rest of the line (the comment) is not looked at.
    let bytes = line.as_bytes();
    let is_space = |b: &u8| b.is_ascii_whitespace();
    let type_end = bytes.iter().position(is_space).ok_or(KeyLine::Format)?;
    if type_end == 0 {
        return Err(KeyLine::Format);
    }
    let key_type = &bytes[..type_end];
    let gap = bytes[type_end..]
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count();
    if gap == 0 {
        return Err(KeyLine::Format);
    }
    let body_start = type_end + gap;
    let body_len = bytes[body_start..]
        .iter()
        .position(is_space)
        .unwrap_or(bytes.len() - body_start);
    if body_len == 0 {
        return Err(KeyLine::Format);
    }
    let shape = shape_of(key_type).ok_or(KeyLine::UnknownType)?;
    let blob =
        decode_base64_lenient(&bytes[body_start..body_start + body_len]).ok_or(KeyLine::Base64)?;
    let mut reader = Reader(&blob);
    if reader.string()? != key_type {
        return Err(KeyLine::TypeMismatch);
    }
    match shape {
        Shape::Rsa => {
            let e = reader.mpint()?;
            let n = reader.mpint()?;
            // RSAPublicNumbers: modulus >= 3, 3 <= exponent < modulus, exponent odd.
            if cmp_uint(n, &[3]).is_lt()
                || cmp_uint(e, &[3]).is_lt()
                || cmp_uint(e, n).is_ge()
                || e.last().is_none_or(|b| b & 1 == 0)
            {
                return Err(KeyLine::Value);
            }
        }
        Shape::Dsa => {
            let p = reader.mpint()?;
            let q = reader.mpint()?;
            let g = reader.mpint()?;
            let y = reader.mpint()?;
            if q.is_empty() || cmp_uint(g, &[1]).is_le() || cmp_uint(g, p).is_ge() || y.is_empty() {
                return Err(KeyLine::Value);
            }
        }
        Shape::Ecdsa(curve, size) => {
            if reader.string()? != curve.as_bytes() {
                return Err(KeyLine::Value);
            }
            check_point(reader.string()?, size)?;
        }
        Shape::Ed25519 => {
            if reader.string()?.len() != 32 {
                return Err(KeyLine::Value);
            }
        }
        Shape::SkEcdsa => {
            if reader.string()? != b"nistp256" {
                return Err(KeyLine::Value);
            }
            check_point(reader.string()?, 32)?;
            reader.string()?; // application
        }
        Shape::SkEd25519 => {
            if reader.string()?.len() != 32 {
                return Err(KeyLine::Value);
            }
            reader.string()?; // application
        }
    }
    if !reader.0.is_empty() {
        return Err(KeyLine::ExtraBytes);
    }
    Ok(())
}

/// An SEC1 point of a curve with `size`-byte coordinates: uncompressed or compressed.
fn check_point(point: &[u8], size: usize) -> Result<(), KeyLine> {
    match point.first() {
        Some(4) if point.len() == 1 + 2 * size => Ok(()),
        Some(2 | 3) if point.len() == 1 + size => Ok(()),
        _ => Err(KeyLine::Value),
    }
}

/// Compares two big-endian unsigned integers.
fn cmp_uint(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let strip = |x: &[u8]| -> usize { x.iter().take_while(|b| **b == 0).count() };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Reads SSH wire-format fields.
struct Reader<'b>(&'b [u8]);

impl<'b> Reader<'b> {
    fn string(&mut self) -> Result<&'b [u8], KeyLine> {
        if self.0.len() < 4 {
            return Err(KeyLine::Field);
        }
        let (len, rest) = self.0.split_at(4);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if rest.len() < len {
            return Err(KeyLine::Field);
        }
        let (value, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(value)
    }

    /// A non-negative `mpint` (a set top bit would make it negative).
    fn mpint(&mut self) -> Result<&'b [u8], KeyLine> {
        let value = self.string()?;
        if value.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(KeyLine::Value);
        }
        Ok(value)
    }
}

/// The DER of the first `CERTIFICATE` PEM block, checked for a certificate's outer shape.
fn certificate_der(pem: &str) -> Result<Vec<u8>, &'static str> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find(BEGIN).ok_or(PEM_FRAMING)? + BEGIN.len();
    let len = pem[start..].find(END).ok_or(PEM_FRAMING)?;
    let body: Vec<u8> = pem[start..start + len]
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let der = decode_base64_strict(&body).ok_or(PEM_FRAMING)?;
    check_certificate(&der)?;
    Ok(der)
}

const ASN1_INVALID: &str = "error parsing asn1 value: ParseError { kind: InvalidValue }";
const ASN1_SHORT: &str = "error parsing asn1 value: ParseError { kind: ShortData }";
const ASN1_EXTRA: &str = "error parsing asn1 value: ParseError { kind: ExtraData }";

/// One DER element: tag and contents, and the bytes after it.
fn der_element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), &'static str> {
    let (&tag, rest) = input.split_first().ok_or(ASN1_SHORT)?;
    let (&first, rest) = rest.split_first().ok_or(ASN1_SHORT)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(ASN1_INVALID);
        }
        let (digits, rest) = rest.split_at(count);
        let len = digits
            .iter()
            .fold(0usize, |acc, d| (acc << 8) | usize::from(*d));
        // DER: the shortest length form.
        if digits[0] == 0 || len < 0x80 {
            return Err(ASN1_INVALID);
        }
        (len, rest)
    };
    if rest.len() < len {
        return Err(ASN1_SHORT);
    }
    let (contents, rest) = rest.split_at(len);
    Ok((tag, contents, rest))
}

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }` with
/// `tbsCertificate` opening with its optional version and its serial number.
fn check_certificate(der: &[u8]) -> Result<(), &'static str> {
    let (tag, cert, rest) = der_element(der)?;
    if tag != 0x30 {
        return Err(ASN1_INVALID);
    }
    if !rest.is_empty() {
        return Err(ASN1_EXTRA);
    }
    let (tag, tbs, cert) = der_element(cert)?;
    if tag != 0x30 {
        return Err(ASN1_INVALID);
    }
    let (tag, _, cert) = der_element(cert)?;
    if tag != 0x30 {
        return Err(ASN1_INVALID);
    }
    let (tag, signature, cert) = der_element(cert)?;
    if tag != 0x03 || signature.is_empty() || !cert.is_empty() {
        return Err(ASN1_INVALID);
    }
    let (mut tag, _, mut tbs) = der_element(tbs)?;
    if tag == 0xa0 {
        (tag, _, tbs) = der_element(tbs)?;
    }
    if tag != 0x02 || tbs.is_empty() {
        return Err(ASN1_INVALID);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

/// 32 bytes from the operating system's random source.
fn random_32() -> Result<[u8; 32], String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| format!("random source: {err}"))?;
    Ok(bytes)
}

/// `string` in SSH wire format.
fn put_string(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

/// A new SSH key pair (Ed25519): OpenSSH private key, public key line, MD5 fingerprint.
/// `Err` only when the operating system has no randomness to give (an internal error).
pub fn generate_ssh() -> Result<Generated, String> {
    let seed = random_32()?;
    let key = SigningKey::from_bytes(&seed);
    let public = key.verifying_key().to_bytes();
    let mut blob = Vec::with_capacity(51);
    put_string(&mut blob, b"ssh-ed25519");
    put_string(&mut blob, &public);

    let check = random_32()?;
    let mut private = Vec::with_capacity(160);
    private.extend_from_slice(&check[..4]);
    private.extend_from_slice(&check[..4]);
    put_string(&mut private, b"ssh-ed25519");
    put_string(&mut private, &public);
    let mut pair = [0u8; 64];
    pair[..32].copy_from_slice(&seed);
    pair[32..].copy_from_slice(&public);
    put_string(&mut private, &pair);
    put_string(&mut private, GENERATED_COMMENT.as_bytes());
    let mut pad = 1u8;
    while !private.len().is_multiple_of(8) {
        private.push(pad);
        pad += 1;
    }
    let mut file = Vec::with_capacity(300);
    file.extend_from_slice(b"openssh-key-v1\0");
    put_string(&mut file, b"none");
    put_string(&mut file, b"none");
    put_string(&mut file, b"");
    file.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut file, &blob);
    put_string(&mut file, &private);

    let public_key = format!("ssh-ed25519 {} {GENERATED_COMMENT}\n", encode_base64(&blob));
    Ok(Generated {
        private_key: pem("OPENSSH PRIVATE KEY", &file, 70),
        fingerprint: colon_hex(&Md5::digest(&blob)),
        public_key,
    })
}

/// A new self-signed X.509 certificate (Ed25519) for `user_id`: PKCS#8 private key,
/// certificate PEM, SHA-1 fingerprint.
pub fn generate_x509(user_id: &str) -> Result<Generated, String> {
    let seed = random_32()?;
    let key = SigningKey::from_bytes(&seed);
    let public = key.verifying_key().to_bytes();
    let serial = random_32()?;

    const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    let algorithm = der(0x30, ED25519);
    let name = der(
        0x30,
        &der(
            0x31,
            &der(
                0x30,
                &[
                    &[0x06, 0x03, 0x55, 0x04, 0x03][..],
                    &der(0x0c, user_id.as_bytes()),
                ]
                .concat(),
            ),
        ),
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    const TEN_YEARS: u64 = 10 * 365 * 86_400;
    let validity = der(0x30, &[der_time(now), der_time(now + TEN_YEARS)].concat());
    let mut bit_string = vec![0u8];
    bit_string.extend_from_slice(&public);
    let spki = der(0x30, &[algorithm.clone(), der(0x03, &bit_string)].concat());
    let client_auth = der(
        0x30,
        &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02],
    );
    let eku = der(
        0x30,
        &[
            &[0x06, 0x03, 0x55, 0x1d, 0x25][..],
            &der(0x04, &client_auth),
        ]
        .concat(),
    );
    let upn = format!("{user_id}@localhost");
    let other_name = der(
        0xa0,
        &[
            &[
                0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03,
            ][..],
            &der(0xa0, &der(0x0c, upn.as_bytes())),
        ]
        .concat(),
    );
    let san = der(
        0x30,
        &[
            &[0x06, 0x03, 0x55, 0x1d, 0x11][..],
            &der(0x04, &der(0x30, &other_name)),
        ]
        .concat(),
    );
    let extensions = der(0xa3, &der(0x30, &[eku, san].concat()));
    // A positive serial number of 16 bytes.
    let mut serial = serial[..16].to_vec();
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let tbs = der(
        0x30,
        &[
            der(0xa0, &der(0x02, &[2])),
            der(0x02, &serial),
            algorithm.clone(),
            name.clone(),
            validity,
            name,
            spki,
            extensions,
        ]
        .concat(),
    );
    let signature = key.sign(&tbs).to_bytes();
    let mut sig_bits = vec![0u8];
    sig_bits.extend_from_slice(&signature);
    let cert = der(0x30, &[tbs, algorithm, der(0x03, &sig_bits)].concat());

    let pkcs8 = der(
        0x30,
        &[
            der(0x02, &[0]),
            der(0x30, ED25519),
            der(0x04, &der(0x04, &seed)),
        ]
        .concat(),
    );
    Ok(Generated {
        private_key: pem("PRIVATE KEY", &pkcs8, 64),
        fingerprint: colon_hex(&Sha1::digest(&cert)),
        public_key: pem("CERTIFICATE", &cert, 64),
    })
}

/// One DER element.
fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

/// `UTCTime` (years before 2050) or `GeneralizedTime`, as RFC 5280 wants.
fn der_time(unix: u64) -> Vec<u8> {
    let (year, month, day) = civil_from_days((unix / 86_400) as i64);
    let secs = unix % 86_400;
    let (hh, mm, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
    if year < 2050 {
        let text = format!("{:02}{month:02}{day:02}{hh:02}{mm:02}{ss:02}Z", year % 100);
        der(0x17, text.as_bytes())
    } else {
        let text = format!("{year:04}{month:02}{day:02}{hh:02}{mm:02}{ss:02}Z");
        der(0x18, text.as_bytes())
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// PEM with `label`, base64 lines of `width` characters.
fn pem(label: &str, der: &[u8], width: usize) -> String {
    let body = encode_base64(der);
    let mut out = String::with_capacity(body.len() + body.len() / width + 80);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in body.as_bytes().chunks(width) {
        // Base64 output is ASCII.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

// ---------------------------------------------------------------------------------------------
// Base64
// ---------------------------------------------------------------------------------------------

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn sextet(b: u8) -> Option<u8> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    })
}

/// Standard base64 with padding.
pub fn encode_base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Python's `binascii.a2b_base64` (non-strict): characters outside the alphabet are skipped,
/// decoding stops at the padding that completes a group; a group left short is an error
/// ("Incorrect padding").
fn decode_base64_lenient(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut count = 0usize;
    let mut pads = 0usize;
    for &b in text {
        if b == b'=' {
            if count % 4 >= 2 {
                pads += 1;
                if count % 4 + pads >= 4 {
                    return Some(out);
                }
            }
            continue;
        }
        let Some(value) = sextet(b) else { continue };
        if pads > 0 {
            // Data after an incomplete run of padding: Python starts over on the run.
            pads = 0;
        }
        acc = (acc << 6) | u32::from(value);
        count += 1;
        match count % 4 {
            2 => out.push((acc >> 4) as u8),
            3 => out.push((acc >> 2) as u8),
            0 => out.push(acc as u8),
            _ => {}
        }
        acc &= 0xff;
    }
    count.is_multiple_of(4).then_some(out)
}

/// Strict base64: only the alphabet, padded to whole groups.
fn decode_base64_strict(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let pads = text.iter().rev().take_while(|b| **b == b'=').count();
    if pads > 2 || text[..text.len() - pads].contains(&b'=') {
        return None;
    }
    let decoded = decode_base64_lenient(text)?;
    (decoded.len() == text.len() / 4 * 3 - pads).then_some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The import sample of Nova's API samples and the fingerprint Nova answers with.
    const SAMPLE_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDx8nkQv/zgGgB4rMYmIf+6A4l6Rr+o/6lHBQdW5aYd44bd8JttDCE/F/pNRr0lRE+PiqSPO8nDPHw0010JeMH9gYgnnFlyY3/OcJ02RhIPyyxYpv9FhY+2YiUkpwFOcLImyrxEsYXpD/0d3ac30bNH6Sw9JD9UZHYcpSxsIbECHw== Generated-by-Nova";
    const SAMPLE_FINGERPRINT: &str = "1e:2c:9b:56:79:4b:45:77:f9:ca:7a:98:2c:b0:d5:3c";

    #[test]
    fn sample_key_has_novas_fingerprint() {
        assert_eq!(ssh_fingerprint(SAMPLE_KEY).unwrap(), SAMPLE_FINGERPRINT);
        // No comment, tab separator: still a key.
        let bare = SAMPLE_KEY.trim_end_matches(" Generated-by-Nova");
        assert_eq!(ssh_fingerprint(bare).unwrap(), SAMPLE_FINGERPRINT);
    }

    #[test]
    fn invalid_ssh_keys() {
        let body = SAMPLE_KEY.split(' ').nth(1).unwrap();
        for line in [
            "",
            "ssh-rsa",
            "ssh-rsa ",
            "foo",
            "ssh-rsa AAAA",
            "ssh-foo AAAAB3NzaC1yc2EAAAADAQABAAAAgQDx8nkQv Generated",
            &format!("ssh-dss {body}"),
            &format!("ssh-rsa {}", &body[..body.len() - 8]),
            &format!("ssh-rsa\t{body}"),
        ] {
            assert_eq!(ssh_fingerprint(line), Err(SSH_INVALID), "{line:?}");
        }
    }

    #[test]
    fn generated_ssh_keys_fingerprint_themselves() {
        let generated = generate_ssh().unwrap();
        assert!(generated
            .public_key
            .starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
        assert!(generated.public_key.ends_with(" Generated-by-Nova\n"));
        assert_eq!(
            ssh_fingerprint(&generated.public_key).unwrap(),
            generated.fingerprint
        );
        assert!(generated
            .private_key
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(generated
            .private_key
            .ends_with("\n-----END OPENSSH PRIVATE KEY-----\n"));
        assert_ne!(generate_ssh().unwrap().public_key, generated.public_key);
    }

    /// OpenSSH itself reads the generated private key back to the same public key.
    #[test]
    fn ssh_keygen_reads_the_generated_private_key() {
        let Ok(probe) = std::process::Command::new("ssh-keygen").arg("-?").output() else {
            eprintln!("ssh-keygen not installed: skipped");
            return;
        };
        drop(probe);
        let generated = generate_ssh().unwrap();
        let path = std::env::temp_dir().join(format!("ringnova-sshkey-{}", std::process::id()));
        std::fs::write(&path, &generated.private_key).unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
        std::fs::set_permissions(&path, perms).unwrap();
        let out = std::process::Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let derived = String::from_utf8(out.stdout).unwrap();
        let derived_key: Vec<&str> = derived.split_whitespace().take(2).collect();
        let ours: Vec<&str> = generated.public_key.split_whitespace().take(2).collect();
        assert_eq!(derived_key, ours);
    }

    #[test]
    fn generated_certificates_parse_and_verify() {
        let generated = generate_x509("alice").unwrap();
        assert!(generated
            .public_key
            .starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(
            x509_fingerprint(&generated.public_key).unwrap(),
            generated.fingerprint
        );
        assert_eq!(generated.fingerprint.len(), 59);
        assert!(generated
            .private_key
            .starts_with("-----BEGIN PRIVATE KEY-----\n"));
        if let Ok(out) = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-subject"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(generated.public_key.as_bytes())?;
                child.wait_with_output()
            })
        {
            assert!(out.status.success());
            assert!(String::from_utf8_lossy(&out.stdout).contains("CN = alice"));
        }
    }

    #[test]
    fn invalid_certificates() {
        let err = x509_fingerprint("not a certificate").unwrap_err();
        assert_eq!(
            err,
            format!("failed to generate X509 fingerprint. Error message: {PEM_FRAMING}")
        );
        let err =
            x509_fingerprint("-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n")
                .unwrap_err();
        assert!(err.contains("error parsing asn1 value"), "{err}");
    }

    #[test]
    fn base64_round_trips_and_python_leniency() {
        for len in 0..10 {
            let data: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
            let text = encode_base64(&data);
            assert_eq!(decode_base64_strict(text.as_bytes()).unwrap(), data);
        }
        assert_eq!(encode_base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(decode_base64_lenient(b"Zm9v\nYg==").unwrap(), b"foob");
        assert_eq!(decode_base64_lenient(b"Zm9vYg==trailing").unwrap(), b"foob");
        assert!(decode_base64_lenient(b"Zm9vYg").is_none());
        assert!(decode_base64_strict(b"Zm9v\nYg==").is_none());
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
