//! The SDP reader: one pass over the lines, no panics, no recursion.

use super::{Attribute, Connection, Line, Media, Origin, SdpError, Session};

/// Placement rank of a verbatim session-level line, so that lines written back in
/// RFC 8866 order read back in the same order.
fn session_rank(kind: char) -> u8 {
    match kind {
        'i' | 'u' | 'e' | 'p' => 0,
        'b' => 1,
        't' | 'r' => 2,
        'z' | 'k' => 3,
        _ => 4,
    }
}

fn media_rank(kind: char) -> u8 {
    match kind {
        'i' => 0,
        'b' | 'k' => 1,
        _ => 2,
    }
}

fn malformed(line: usize, reason: &'static str) -> SdpError {
    SdpError::Malformed { line, reason }
}

pub(crate) fn parse(text: &str) -> Result<Session, SdpError> {
    let mut origin: Option<Origin> = None;
    let mut name: Option<String> = None;
    let mut connection: Option<Connection> = None;
    let mut timing: Option<(u64, u64)> = None;
    let mut attributes = Vec::new();
    let mut other_lines = Vec::new();
    let mut media: Vec<Media> = Vec::new();
    let mut seen_version = false;

    for (i, raw) in text.split('\n').enumerate() {
        let number = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        let mut chars = line.chars();
        let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
            return Err(malformed(number, "not a <type>=<value> line"));
        };
        if !kind.is_ascii_lowercase() {
            return Err(malformed(number, "line type is not a lower-case letter"));
        }
        let value = chars.as_str();
        if !seen_version {
            if kind != 'v' {
                return Err(SdpError::Missing('v'));
            }
            if value.trim() != "0" {
                return Err(malformed(number, "unsupported SDP version"));
            }
            seen_version = true;
            continue;
        }
        if kind == 'm' {
            media.push(parse_media_line(value).ok_or(malformed(number, "bad m= line"))?);
            continue;
        }
        if let Some(m) = media.last_mut() {
            match kind {
                'c' if m.connection.is_none() => {
                    m.connection = Some(parse_connection(value).ok_or(malformed(number, "bad c= line"))?);
                }
                'a' => m.attributes.push(Attribute::parse(value)),
                _ => m.other_lines.push(Line {
                    kind,
                    value: value.to_owned(),
                }),
            }
            continue;
        }
        match kind {
            'v' => return Err(malformed(number, "second v= line")),
            'o' if origin.is_none() => origin = Some(parse_origin(value).ok_or(malformed(number, "bad o= line"))?),
            'o' => return Err(malformed(number, "second o= line")),
            's' if name.is_none() => name = Some(value.to_owned()),
            'c' if connection.is_none() => {
                connection = Some(parse_connection(value).ok_or(malformed(number, "bad c= line"))?);
            }
            't' if timing.is_none() => timing = Some(parse_timing(value).ok_or(malformed(number, "bad t= line"))?),
            'a' => attributes.push(Attribute::parse(value)),
            _ => other_lines.push(Line {
                kind,
                value: value.to_owned(),
            }),
        }
    }
    if !seen_version {
        return Err(SdpError::Missing('v'));
    }
    let origin = origin.ok_or(SdpError::Missing('o'))?;
    other_lines.sort_by_key(|l: &Line| session_rank(l.kind));
    for m in &mut media {
        m.other_lines.sort_by_key(|l| media_rank(l.kind));
    }
    Ok(Session {
        origin,
        name: name.unwrap_or_else(|| "-".to_owned()),
        connection,
        timing: timing.unwrap_or((0, 0)),
        attributes,
        other_lines,
        media,
    })
}

fn token(s: &str) -> Option<String> {
    Some(s.to_owned()).filter(|t| !t.is_empty())
}

fn parse_origin(value: &str) -> Option<Origin> {
    let f: Vec<&str> = value.split_ascii_whitespace().collect();
    let [user, id, version, net, addr_type, addr] = f.as_slice() else {
        return None;
    };
    Some(Origin {
        username: token(user)?,
        session_id: token(id)?,
        session_version: version.parse().ok()?,
        address: Connection {
            net_type: token(net)?,
            addr_type: token(addr_type)?,
            address: token(addr)?,
        },
    })
}

fn parse_connection(value: &str) -> Option<Connection> {
    let f: Vec<&str> = value.split_ascii_whitespace().collect();
    let [net, addr_type, addr] = f.as_slice() else {
        return None;
    };
    Some(Connection {
        net_type: token(net)?,
        addr_type: token(addr_type)?,
        address: token(addr)?,
    })
}

fn parse_timing(value: &str) -> Option<(u64, u64)> {
    let mut f = value.split_ascii_whitespace();
    let start = f.next()?.parse().ok()?;
    let stop = f.next()?.parse().ok()?;
    f.next().is_none().then_some((start, stop))
}

fn parse_media_line(value: &str) -> Option<Media> {
    let mut f = value.split_ascii_whitespace();
    let kind = token(f.next()?)?;
    let port_field = f.next()?;
    let (port, port_count) = match port_field.split_once('/') {
        Some((p, n)) => (p.parse().ok()?, Some(n.parse().ok()?)),
        None => (port_field.parse().ok()?, None),
    };
    let proto = token(f.next()?)?;
    let formats = f.map(str::to_owned).collect();
    Some(Media {
        kind,
        port,
        port_count,
        proto,
        formats,
        connection: None,
        attributes: Vec::new(),
        other_lines: Vec::new(),
    })
}
