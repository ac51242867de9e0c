//! The `Digest` auth-param list of WWW-Authenticate, Authorization and their proxy
//! twins (RFC 7616 section 3, RFC 3261 section 25.1 grammar), parsed by hand.
//!
//! Contract: any input yields `Ok` or `Err`, never a panic; slicing happens only
//! at ASCII delimiters, so multi-byte UTF-8 passes through untouched.

/// Upper bound on parameters in one header value; more is treated as garbage.
const MAX_PARAMS: usize = 32;

/// Why a header value is not a well-formed Digest parameter list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamsError {
    /// The scheme is not `Digest` (e.g. `Basic`), or there is no scheme.
    NotDigest,
    /// The parameter list is malformed; the text says where.
    Malformed(&'static str),
}

/// The parameters of a Digest header, names lower-cased, values unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DigestParams {
    params: Vec<(String, String)>,
}

impl DigestParams {
    /// The value of parameter `name` (lower-case), if present.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// RFC 3261 `token` characters.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// Parses `Digest name=value, name="quoted", ...`.
///
/// Accepted leniencies, all seen from real UAs: empty list elements (`a=b,,c=d`),
/// unquoted values that are not strict tokens (`uri=sip:x@y` up to the next comma or
/// whitespace), any amount of linear whitespace. Rejected: a duplicated parameter
/// (ambiguous, so a smuggling risk), an unterminated quoted string, a dangling
/// escape, a parameter without `=`, and more than 32 parameters.
pub(crate) fn parse_digest(value: &str) -> Result<DigestParams, ParamsError> {
    let s = value.trim_start();
    let scheme_end = s.find(|c: char| c.is_whitespace()).unwrap_or(s.len());
    if !s[..scheme_end].eq_ignore_ascii_case("digest") {
        return Err(ParamsError::NotDigest);
    }
    let mut rest = &s[scheme_end..];
    let mut params: Vec<(String, String)> = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if rest.is_empty() {
            break;
        }
        let name_end = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
        if name_end == 0 {
            return Err(ParamsError::Malformed("expected a parameter name"));
        }
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or(ParamsError::Malformed("expected '=' after a parameter name"))?
            .trim_start();
        let (val, after) = if let Some(quoted) = rest.strip_prefix('"') {
            unquote(quoted)?
        } else {
            let end = rest.find(|c: char| c == ',' || c.is_whitespace()).unwrap_or(rest.len());
            if end == 0 {
                return Err(ParamsError::Malformed("empty parameter value"));
            }
            (rest[..end].to_string(), &rest[end..])
        };
        rest = after.trim_start();
        if !rest.is_empty() && !rest.starts_with(',') {
            return Err(ParamsError::Malformed("expected ',' between parameters"));
        }
        if params.iter().any(|(n, _)| *n == name) {
            return Err(ParamsError::Malformed("duplicated parameter"));
        }
        if params.len() == MAX_PARAMS {
            return Err(ParamsError::Malformed("too many parameters"));
        }
        params.push((name, val));
    }
    Ok(DigestParams { params })
}

/// Reads a quoted string whose opening quote is already consumed; returns the
/// unescaped content and the text after the closing quote.
fn unquote(s: &str) -> Result<(String, &str), ParamsError> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, escaped)) => out.push(escaped),
                None => return Err(ParamsError::Malformed("dangling escape in quoted string")),
            },
            c => out.push(c),
        }
    }
    Err(ParamsError::Malformed("unterminated quoted string"))
}

/// `s` as a quoted string, escaping `"` and `\`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tokens_quoted_strings_and_escapes() {
        let p = parse_digest("digest USERNAME=\"a\\\"b\", Realm=\"x, y\",nc=00000001 ,qop=auth, uri=\"sip:a@b\"")
            .expect("parses");
        assert_eq!(p.get("username"), Some("a\"b"));
        assert_eq!(p.get("realm"), Some("x, y"));
        assert_eq!(p.get("nc"), Some("00000001"));
        assert_eq!(p.get("qop"), Some("auth"));
        assert_eq!(p.get("uri"), Some("sip:a@b"));
        assert_eq!(p.get("opaque"), None);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_digest("Basic dXNlcjpwYXNz"), Err(ParamsError::NotDigest));
        assert_eq!(parse_digest(""), Err(ParamsError::NotDigest));
        for bad in [
            "Digest realm=\"open",
            "Digest realm=\"x\\",
            "Digest realm",
            "Digest =x",
            "Digest a=b c=d",
            "Digest a=\"b\"c",
            "Digest a=1, A=2",
            "Digest a=",
        ] {
            assert!(matches!(parse_digest(bad), Err(ParamsError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn quote_round_trips() {
        let original = "we\"ird\\realm, with comma";
        let header = format!("Digest realm={}", quote(original));
        let p = parse_digest(&header).expect("parses");
        assert_eq!(p.get("realm"), Some(original));
    }
}
