//! The location service of RFC 3261 section 10, clock-free.
//!
//! [`Registrar::handle_register`] does steps 5 to 8 of section 10.3 for a REGISTER
//! that has already been authenticated and authorised for its address-of-record
//! (AOR), and returns the response to send. Time comes in as `now`; bindings
//! expire at an [`Instant`]; the shell calls [`Registrar::expire`] at
//! [`Registrar::poll_timeout`].
//!
//! # Choices
//! - A request is all or nothing (section 10.3 step 7 "tentatively"): every
//!   contact is checked before any binding changes.
//! - A REGISTER whose Call-ID matches a binding's but whose CSeq is not higher is
//!   out of order and fails with 500, the code section 12.2.2 gives for an
//!   out-of-order request in a dialog.
//! - Expiry: the contact's `expires` parameter, else the Expires header, else
//!   `default_expires`; a malformed value counts as absent (section 20.19 treats
//!   malformed as "the default"). Above `max_expires` it is lowered to it; 0 removes;
//!   below `min_expires` is answered 423 with Min-Expires.
//! - At most [`MAX_BINDINGS_PER_AOR`] contacts per AOR; a request that would exceed
//!   it is answered 503 and changes nothing.
//! - Contact URIs are compared by a simplified section 19.1.4 rule (see
//!   `contact::uri_key`). Contact header parameters other than `expires` and `q`
//!   (e.g. `+sip.instance`) are not kept.
//! - In [`Registrar::lookup`] a binding without `q` ranks as `q=1.0`.

mod contact;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rsip::headers::UntypedHeader;
use rsip::{Header, Request, Response, StatusCode};

use crate::response::response_for;
use crate::transport::Peer;
use contact::{parse_contact, parse_delta_seconds, split_list, ContactAddr, ContactSpec};

/// At most this many bindings are kept for one AOR.
pub const MAX_BINDINGS_PER_AOR: usize = 32;

/// Expiry limits of a [`Registrar`], in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shorter non-zero expiries are refused with 423 Interval Too Brief.
    pub min_expires: u32,
    /// Longer expiries are lowered to this.
    pub max_expires: u32,
    /// Used when the request names no expiry.
    pub default_expires: u32,
}

impl Default for RegistrarConfig {
    /// 60 s minimum (RFC 3261 section 10.2.8 suggests at least 60), one hour
    /// default, two hours maximum.
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 7200,
            default_expires: 3600,
        }
    }
}

/// One contact registered for an AOR.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The contact URI as text, e.g. `sip:1001@1.2.3.4:5070;transport=tcp`.
    pub contact: String,
    /// When the binding lapses unless refreshed.
    pub expires_at: Instant,
    /// Call-ID of the REGISTER that last wrote the binding.
    pub call_id: String,
    /// CSeq number of that REGISTER.
    pub cseq: u32,
    /// The `q` preference, 0 to 1.
    pub q: Option<f32>,
    /// Where the REGISTER came from. For NAT traversal, requests to this contact
    /// are sent here rather than to the host in `contact`.
    pub source: Peer,
    /// The registering device's User-Agent header.
    pub user_agent: Option<String>,
    /// When the binding was created or last refreshed.
    pub updated_at: Instant,
}

impl Binding {
    /// Whole seconds left before expiry, rounded up; 0 once expired.
    pub fn expires_in(&self, now: Instant) -> u32 {
        let left = self.expires_at.saturating_duration_since(now);
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        u32::try_from(secs).unwrap_or(u32::MAX)
    }
}

/// One row of [`Registrar::registrations`], for an API listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The address-of-record.
    pub aor: String,
    /// The contact URI.
    pub contact: String,
    /// Seconds until expiry.
    pub expires_in: u32,
    /// Where the REGISTER came from.
    pub source: Peer,
    /// The device's User-Agent.
    pub user_agent: Option<String>,
}

/// The location service: AOR -> bindings. See the module docs.
#[derive(Debug, Default)]
pub struct Registrar {
    config: RegistrarConfig,
    /// Per AOR, bindings in the order they were last written.
    bindings: HashMap<String, Vec<Binding>>,
    /// Stored bindings, kept as they change so metrics need no scan.
    count: usize,
    /// (earliest expiry, AOR) of every AOR, so the next expiry is the first
    /// entry, not a scan of every phone.
    expiries: BTreeSet<(Instant, String)>,
}

/// Why a REGISTER is answered with an error, and with which code.
enum Refusal {
    Bad,
    TooBrief,
    OutOfOrder,
    TooMany,
}

impl Registrar {
    /// An empty registrar.
    pub fn new(config: RegistrarConfig) -> Self {
        Registrar {
            config,
            bindings: HashMap::new(),
            count: 0,
            expiries: BTreeSet::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// Processes an authenticated REGISTER for `aor` received from `source` and
    /// returns the response: 200 listing the AOR's bindings, or 400, 423 (with
    /// Min-Expires), 500 (out of order) or 503 (too many bindings), in which case
    /// nothing changed. A REGISTER without Contact is a query.
    pub fn handle_register(&mut self, now: Instant, aor: &str, request: &Request, source: Peer) -> Response {
        let tag = format!("{:016x}", rand::random::<u64>());
        match self.apply(now, aor, request, source) {
            Ok(()) => {
                let mut response = response_for(request, StatusCode::OK, Some(&tag));
                for b in self.lookup(now, aor) {
                    let mut value = format!("<{}>;expires={}", b.contact, b.expires_in(now));
                    if let Some(q) = b.q {
                        value.push_str(&format!(";q={q}"));
                    }
                    response
                        .headers
                        .push(Header::Contact(rsip::headers::Contact::new(value)));
                }
                response
            }
            Err(refusal) => {
                let status = match refusal {
                    Refusal::Bad => StatusCode::BadRequest,
                    Refusal::TooBrief => StatusCode::IntervalTooBrief,
                    Refusal::OutOfOrder => StatusCode::ServerInternalError,
                    Refusal::TooMany => StatusCode::ServiceUnavailable,
                };
                let mut response = response_for(request, status, Some(&tag));
                if matches!(refusal, Refusal::TooBrief) {
                    response
                        .headers
                        .push(Header::MinExpires(rsip::headers::MinExpires::from(
                            self.config.min_expires,
                        )));
                }
                response
            }
        }
    }

    /// Steps 5 to 8: validate everything, then commit.
    fn apply(&mut self, now: Instant, aor: &str, request: &Request, source: Peer) -> Result<(), Refusal> {
        let call_id = header_value(request, "Call-ID", "i").ok_or(Refusal::Bad)?;
        let cseq = request
            .headers
            .iter()
            .find_map(|h| match h {
                Header::CSeq(c) => Some(c.seq()),
                _ => None,
            })
            .and_then(Result::ok)
            .ok_or(Refusal::Bad)?;
        let user_agent = header_value(request, "User-Agent", "");
        let header_expires = header_value(request, "Expires", "")
            .map(|v| parse_delta_seconds(&v).unwrap_or(self.config.default_expires));

        let mut specs = Vec::new();
        for header in request.headers.iter() {
            let value = match header {
                Header::Contact(c) => c.value(),
                Header::Other(name, value) if name.eq_ignore_ascii_case("m") => value.as_str(),
                _ => continue,
            };
            for item in split_list(value) {
                specs.push(parse_contact(item).map_err(|_| Refusal::Bad)?);
            }
        }
        if specs.is_empty() {
            return Ok(()); // a query
        }

        let current: Vec<Binding> = self
            .bindings
            .get(aor)
            .map(|v| v.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default();
        let out_of_order = |b: &Binding| b.call_id == call_id && cseq <= b.cseq;

        if specs.iter().any(|s| matches!(s, ContactSpec::Star)) {
            if specs.len() != 1 || header_expires != Some(0) {
                return Err(Refusal::Bad);
            }
            if current.iter().any(out_of_order) {
                return Err(Refusal::OutOfOrder);
            }
            self.store(aor, Vec::new());
            return Ok(());
        }

        let mut updates: Vec<(ContactAddr, u32)> = Vec::with_capacity(specs.len());
        for spec in specs {
            let ContactSpec::Addr(addr) = spec else {
                return Err(Refusal::Bad);
            };
            let expires = addr.expires.or(header_expires).unwrap_or(self.config.default_expires);
            if expires > 0 && expires < self.config.min_expires {
                return Err(Refusal::TooBrief);
            }
            let existing = current.iter().find(|b| same_contact(&b.contact, &addr.key));
            if existing.is_some_and(out_of_order) {
                return Err(Refusal::OutOfOrder);
            }
            updates.push((addr, expires.min(self.config.max_expires)));
        }

        let mut next = current;
        for (addr, expires) in updates {
            next.retain(|b| !same_contact(&b.contact, &addr.key));
            if expires == 0 {
                continue;
            }
            next.push(Binding {
                contact: addr.uri,
                expires_at: now + Duration::from_secs(u64::from(expires)),
                call_id: call_id.clone(),
                cseq,
                q: addr.q,
                source,
                user_agent: user_agent.clone(),
                updated_at: now,
            });
        }
        if next.len() > MAX_BINDINGS_PER_AOR {
            return Err(Refusal::TooMany);
        }
        self.store(aor, next);
        Ok(())
    }

    /// Replaces the bindings of `aor` (none removes it), keeping the count
    /// and the expiry queue.
    fn store(&mut self, aor: &str, list: Vec<Binding>) {
        if let Some(old) = self.bindings.get(aor) {
            self.count -= old.len();
            if let Some(first) = old.iter().map(|b| b.expires_at).min() {
                self.expiries.remove(&(first, aor.to_owned()));
            }
        }
        self.count += list.len();
        match list.iter().map(|b| b.expires_at).min() {
            Some(first) => {
                self.expiries.insert((first, aor.to_owned()));
                self.bindings.insert(aor.to_owned(), list);
            }
            None => {
                self.bindings.remove(aor);
            }
        }
    }

    /// The live bindings of `aor`: highest `q` first (absent counts as 1.0), then
    /// the most recently written first.
    pub fn lookup(&self, now: Instant, aor: &str) -> Vec<&Binding> {
        let Some(list) = self.bindings.get(aor) else {
            return Vec::new();
        };
        let mut live: Vec<&Binding> = list.iter().rev().filter(|b| b.expires_at > now).collect();
        live.sort_by(|a, b| {
            let (qa, qb) = (a.q.unwrap_or(1.0), b.q.unwrap_or(1.0));
            qb.total_cmp(&qa).then(b.updated_at.cmp(&a.updated_at))
        });
        live
    }

    /// Removes the bindings expired at `now`; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        while let Some((at, aor)) = self.expiries.first().cloned() {
            if at > now {
                break;
            }
            let Some(list) = self.bindings.get(&aor) else {
                self.expiries.remove(&(at, aor));
                continue;
            };
            let live: Vec<Binding> = list.iter().filter(|b| b.expires_at > now).cloned().collect();
            removed += list.len() - live.len();
            self.store(&aor, live);
        }
        removed
    }

    /// The next expiry, when [`Self::expire`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiries.first().map(|(at, _)| *at)
    }

    /// Number of stored bindings, including expired ones not yet removed.
    pub fn binding_count(&self) -> usize {
        self.count
    }

    /// The AORs with at least one stored binding, in no particular order.
    pub fn aors(&self) -> impl Iterator<Item = &str> {
        self.bindings.keys().map(String::as_str)
    }

    /// A snapshot of all live registrations, by AOR then in lookup order.
    pub fn registrations(&self, now: Instant) -> Vec<Registration> {
        let mut aors: Vec<&str> = self.aors().collect();
        aors.sort_unstable();
        aors.into_iter()
            .flat_map(|aor| {
                self.lookup(now, aor).into_iter().map(move |b| Registration {
                    aor: aor.to_string(),
                    contact: b.contact.clone(),
                    expires_in: b.expires_in(now),
                    source: b.source,
                    user_agent: b.user_agent.clone(),
                })
            })
            .collect()
    }
}

fn same_contact(stored_uri: &str, key: &str) -> bool {
    contact::uri_key(stored_uri).is_some_and(|k| k == key)
}

/// The value of the first header named `name` (or its compact form), trimmed.
fn header_value(request: &Request, name: &str, compact: &str) -> Option<String> {
    request.headers.iter().find_map(|h| {
        let (n, v) = match h {
            Header::CallId(v) => ("Call-ID", v.value()),
            Header::Expires(v) => ("Expires", v.value()),
            Header::UserAgent(v) => ("User-Agent", v.value()),
            Header::Other(n, v) => (n.as_str(), v.as_str()),
            _ => return None,
        };
        let matches = n.eq_ignore_ascii_case(name) || (!compact.is_empty() && n.eq_ignore_ascii_case(compact));
        matches.then(|| v.trim().to_string())
    })
}
