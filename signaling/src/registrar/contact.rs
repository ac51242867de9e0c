//! Contact header values of a REGISTER (RFC 3261 section 20.10), parsed by hand:
//! several per header line, `*`, name-addr and addr-spec forms, `expires` and `q`.
//!
//! Contract: any input yields `Ok` or `Err`, never a panic; slicing happens only at
//! ASCII delimiters.

/// One element of a Contact header in a REGISTER.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ContactSpec {
    /// `*`: all bindings (only valid alone, with Expires: 0).
    Star,
    /// A contact address.
    Addr(ContactAddr),
}

/// A contact address with the parameters the registrar uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ContactAddr {
    /// The URI as written (without angle brackets).
    pub(crate) uri: String,
    /// The URI normalised for comparison (see [`uri_key`]).
    pub(crate) key: String,
    /// A well-formed `expires` parameter; a malformed one is ignored.
    pub(crate) expires: Option<u32>,
    /// The `q` parameter.
    pub(crate) q: Option<f32>,
}

/// Splits a header value at commas that are outside quotes and angle brackets.
pub(crate) fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut in_quotes, mut escaped, mut in_angle) = (false, false, false);
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if in_quotes {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quotes = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '<' => in_angle = true,
            '>' => in_angle = false,
            ',' if !in_angle => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out.into_iter().map(str::trim).filter(|s| !s.is_empty()).collect()
}

/// Parses one contact element.
pub(crate) fn parse_contact(item: &str) -> Result<ContactSpec, &'static str> {
    let item = item.trim();
    if item == "*" {
        return Ok(ContactSpec::Star);
    }
    let (uri, params) = match find_unquoted(item, '<') {
        Some(open) => {
            let rest = &item[open + 1..];
            let close = rest.find('>').ok_or("unterminated '<' in Contact")?;
            (&rest[..close], &rest[close + 1..])
        }
        None => match item.find(';') {
            Some(semi) => (&item[..semi], &item[semi..]),
            None => (item, ""),
        },
    };
    let uri = uri.trim();
    let key = uri_key(uri).ok_or("Contact URI is not a sip or sips URI")?;
    let mut contact = ContactAddr {
        uri: uri.to_string(),
        key,
        expires: None,
        q: None,
    };
    let params = params.trim();
    if !params.is_empty() && !params.starts_with(';') {
        return Err("unexpected text after the Contact URI");
    }
    for param in split_params(params) {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (param.trim(), None),
        };
        if name.eq_ignore_ascii_case("expires") {
            contact.expires = value.and_then(parse_delta_seconds);
        } else if name.eq_ignore_ascii_case("q") {
            contact.q = Some(value.and_then(parse_q).ok_or("invalid q parameter")?);
        }
    }
    Ok(contact.into())
}

impl From<ContactAddr> for ContactSpec {
    fn from(addr: ContactAddr) -> Self {
        ContactSpec::Addr(addr)
    }
}

/// Byte index of the first `c` outside a quoted string.
fn find_unquoted(s: &str, c: char) -> Option<usize> {
    let (mut in_quotes, mut escaped) = (false, false);
    for (i, ch) in s.char_indices() {
        if in_quotes {
            match ch {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quotes = false,
                _ => {}
            }
        } else if ch == '"' {
            in_quotes = true;
        } else if ch == c {
            return Some(i);
        }
    }
    None
}

/// The `;name[=value]` items of a header parameter list, quotes respected.
fn split_params(mut s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    while let Some(rest) = s.strip_prefix(';') {
        let end = find_unquoted(rest, ';').unwrap_or(rest.len());
        let item = rest[..end].trim();
        if !item.is_empty() {
            out.push(item);
        }
        s = &rest[end..];
    }
    out
}

/// A delta-seconds value: digits only; values beyond `u32::MAX` saturate, as
/// RFC 3261 section 10.2.1.1 / 20.19 allow.
pub(crate) fn parse_delta_seconds(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u32>().unwrap_or(u32::MAX))
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`.
fn parse_q(s: &str) -> Option<f32> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let valid = frac.len() <= 3
        && frac.bytes().all(|b| b.is_ascii_digit())
        && (int == "0" || (int == "1" && frac.bytes().all(|b| b == b'0')));
    if !valid {
        return None;
    }
    s.parse::<f32>().ok()
}

/// A normalised form of a sip/sips URI for the comparison of RFC 3261 section
/// 19.1.4, simplified: scheme and host are case-insensitive, the user part is
/// case-sensitive, URI parameters are compared case-insensitively and in any
/// order, and a missing port is not equal to an explicit 5060. `None` when the
/// text is not a plausible sip or sips URI.
pub(crate) fn uri_key(uri: &str) -> Option<String> {
    if uri.is_empty() || uri.chars().any(|c| c.is_whitespace() || "<>\"".contains(c)) {
        return None;
    }
    let (scheme, rest) = uri.split_once(':')?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "sip" && scheme != "sips" {
        return None;
    }
    // URI headers (`?...`) do not take part in a binding's identity here.
    let rest = rest.split('?').next().unwrap_or(rest);
    let mut parts = rest.split(';');
    let address = parts.next().unwrap_or("");
    let (user, host) = match address.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, address),
    };
    if host.is_empty() {
        return None;
    }
    let mut params: Vec<String> = parts.filter(|p| !p.is_empty()).map(str::to_ascii_lowercase).collect();
    params.sort();
    let mut key = format!("{scheme}:");
    if let Some(user) = user {
        key.push_str(user);
        key.push('@');
    }
    key.push_str(&host.to_ascii_lowercase());
    for p in params {
        key.push(';');
        key.push_str(&p);
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(item: &str) -> ContactAddr {
        match parse_contact(item) {
            Ok(ContactSpec::Addr(a)) => a,
            other => panic!("{item}: {other:?}"),
        }
    }

    #[test]
    fn splits_lists_respecting_quotes_and_brackets() {
        let items = split_list(
            "\"Doe, John\" <sip:a@h;x=1,2>;q=0.5, sip:b@h;expires=10 ,<sip:c@h>;+sip.instance=\"<urn:uuid:1,2>\"",
        );
        assert_eq!(items.len(), 3, "{items:?}");
        assert_eq!(addr(items[0]).uri, "sip:a@h;x=1,2");
        assert_eq!(addr(items[0]).q, Some(0.5));
        assert_eq!(addr(items[1]).uri, "sip:b@h");
        assert_eq!(addr(items[1]).expires, Some(10));
        assert_eq!(addr(items[2]).uri, "sip:c@h");
    }

    #[test]
    fn star_expires_and_q() {
        assert_eq!(parse_contact(" * "), Ok(ContactSpec::Star));
        let a = addr("<sip:1001@10.0.0.1:5070;transport=tcp>;expires=99999999999;q=1.000");
        assert_eq!(a.expires, Some(u32::MAX));
        assert_eq!(a.q, Some(1.0));
        assert_eq!(addr("<sip:a@h>;expires=soon").expires, None);
        assert!(parse_contact("<sip:a@h>;q=1.5").is_err());
        assert!(parse_contact("<sip:a@h>;q").is_err());
        assert!(parse_contact("<sip:a@h").is_err());
        assert!(parse_contact("<mailto:a@h>").is_err());
        assert!(parse_contact("<sip:a@h> junk").is_err());
        assert!(parse_contact("").is_err());
    }

    #[test]
    fn uri_comparison_normalises_case_and_param_order() {
        assert_eq!(
            uri_key("SIP:alice@Example.COM;Transport=TCP;lr"),
            uri_key("sip:alice@example.com;lr;transport=tcp")
        );
        assert_ne!(uri_key("sip:Alice@h"), uri_key("sip:alice@h"));
        assert_ne!(uri_key("sip:a@h"), uri_key("sip:a@h:5060"));
        assert_eq!(uri_key("sip:@"), None);
    }
}
