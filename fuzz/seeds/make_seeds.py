#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets into fuzz/corpus/.

Run from fuzz/: python3 seeds/make_seeds.py. The corpus directories then grow
with what libFuzzer finds; `cargo fuzz cmin` keeps them small.
"""
import os

SDP = ("v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\ns=-\r\n"
       "c=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0 8 101\r\n"
       "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")


def msg(start, headers, body=""):
    lines = [start] + headers + [f"Content-Length: {len(body.encode())}", "", ""]
    return ("\r\n".join(lines) + body).encode()


REGISTER = msg("REGISTER sip:example.com SIP/2.0", [
    "Via: SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bK776asdhds;rport",
    "Max-Forwards: 70",
    "From: \"Alice\" <sip:alice@example.com>;tag=1928301774",
    "To: <sip:alice@example.com>",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 314159 REGISTER",
    "Contact: <sip:alice@192.0.2.101:5060;transport=udp>;expires=3600;q=0.7, <sip:alice@198.51.100.4>",
    "Expires: 7200",
    "User-Agent: Seed/1.0",
])

REGISTER_AUTH = msg("REGISTER sip:example.com SIP/2.0", [
    "Via: SIP/2.0/TCP 192.0.2.101:5060;branch=z9hG4bK776asdhdt",
    "From: <sip:alice@example.com>;tag=1928301775",
    "To: <sip:alice@example.com>",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 314160 REGISTER",
    "Contact: <sip:alice@192.0.2.101:5060;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"",
    'Authorization: Digest username="alice", realm="example.com", nonce="0000000000000000000000000000000000000000000000000000000000000000", uri="sip:example.com", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001',
])

REGISTER_STAR = msg("REGISTER sip:example.com SIP/2.0", [
    "v: SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bKstar",
    "f: <sip:alice@example.com>;tag=9",
    "t: <sip:alice@example.com>",
    "i: unregister-1",
    "CSeq: 7 REGISTER",
    "m: *",
    "Expires: 0",
])

INVITE = msg("INVITE sip:bob@example.com SIP/2.0", [
    "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bKnashds8",
    "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2",
    "Max-Forwards: 70",
    "To: Bob <sip:bob@example.com>",
    "From: Alice <sip:alice@example.com>;tag=1928301774",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 314159 INVITE",
    "Contact: <sip:alice@pc33.example.com>",
    "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
    "Content-Type: application/sdp",
], SDP)

OK_200 = msg("SIP/2.0 200 OK", [
    "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bKnashds8;received=192.0.2.101;rport=5060",
    "To: Bob <sip:bob@example.com>;tag=a6c85cf",
    "From: Alice <sip:alice@example.com>;tag=1928301774",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 314159 INVITE",
    "Contact: <sip:bob@192.0.2.4>",
    "Content-Type: application/sdp",
], SDP)

TRYING = msg("SIP/2.0 100 Trying", [
    "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bKnashds8",
    "To: Bob <sip:bob@example.com>",
    "From: Alice <sip:alice@example.com>;tag=1928301774",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 314159 INVITE",
])

UNAUTHORIZED = msg("SIP/2.0 401 Unauthorized", [
    "Via: SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.101",
    "From: <sip:alice@example.com>;tag=1928301774",
    "To: <sip:alice@example.com>;tag=37GkEhwl6",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 314159 REGISTER",
    'WWW-Authenticate: Digest realm="example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", algorithm=MD5, qop="auth"',
])

OPTIONS = msg("OPTIONS sip:carol@chicago.example.com SIP/2.0", [
    "Via: SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877",
    "Max-Forwards: 70",
    "To: <sip:carol@chicago.example.com>",
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
    "Call-ID: a84b4c76e66710",
    "CSeq: 63104 OPTIONS",
    "Contact: <sip:alice@pc33.atlanta.example.com>",
    "Accept: application/sdp",
])

# Compact forms, folded line, comma-joined Via, IPv6, no Content-Length.
COMPACT = (
    "INVITE sip:bob@[2001:db8::10]:5070;transport=tcp SIP/2.0\r\n"
    "v: SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK-c1;rport, SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK-c0\r\n"
    "f: \"A, B\" <sip:alice@example.com>;tag=f1\r\n"
    "t: <sip:bob@example.com>\r\n"
    "i: compact@10.0.0.1\r\n"
    "CSeq: 1\r\n INVITE\r\n"
    "m: <sip:alice@[2001:db8::9]>\r\n"
    "k: 100rel, timer\r\n"
    "x: 1800;refresher=uac\r\n"
    "c: application/sdp\r\n"
    "\r\n" + SDP
).encode()

ACK = msg("ACK sip:bob@192.0.2.4 SIP/2.0", [
    "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bKnashds9",
    "Max-Forwards: 70",
    "To: Bob <sip:bob@example.com>;tag=a6c85cf",
    "From: Alice <sip:alice@example.com>;tag=1928301774",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 314159 ACK",
])

CANCEL = msg("CANCEL sip:bob@example.com SIP/2.0", [
    "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bKnashds8",
    "Max-Forwards: 70",
    "To: Bob <sip:bob@example.com>",
    "From: Alice <sip:alice@example.com>;tag=1928301774",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 314159 CANCEL",
])

BYE_2543 = msg("BYE sip:alice@pc33.example.com SIP/2.0", [
    "Via: SIP/2.0/UDP 192.0.2.4",
    "To: Alice <sip:alice@example.com>;tag=1928301774",
    "From: Bob <sip:bob@example.com>;tag=a6c85cf",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 231 BYE",
])

BAD = msg("INVITE sip:bob@example.com SIP/2.0", [
    "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bKbad",
    "To: Bob <sip:bob@example.com>",
    "From: Alice <sip:alice@example.com>;tag=1",
    "Call-ID: bad",
    "CSeq: 1 BYE",
])

SIP = {
    "register": REGISTER, "register_auth": REGISTER_AUTH, "register_star": REGISTER_STAR,
    "invite_sdp": INVITE, "ok_200": OK_200, "trying_100": TRYING, "unauthorized_401": UNAUTHORIZED,
    "options_tcp": OPTIONS, "compact_forms": COMPACT, "ack": ACK, "cancel": CANCEL,
    "bye_rfc2543": BYE_2543, "cseq_mismatch": BAD,
}

DIGEST = {
    "md5_qop": b'Digest username="alice", realm="example.com", nonce="0000000000000000000000000000000000000000000000000000000000000000", uri="sip:example.com", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001',
    "sha256": b'Digest username="bob",realm="example.com",nonce="00000000000001f4000000000000000100112233445566778899aabbccddeeff",uri=sip:example.com,response="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",algorithm=SHA-256',
    "rfc2069": b'digest USERNAME="a\\"b", Realm="example.com", nonce="x", uri="sip:a@b", response="0"',
    "fields": b"alice\nsecret\nsip:example.com\n0a4f113b\nINVITE",
    "fields_odd": "\u00e9l\u00e8ve \"x\"\\\npa,ss\nsip:x@y;a=\"b\"\n\n".encode(),
}


def write(target, name, data):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed_" + name), "wb") as f:
        f.write(data)


for name, data in SIP.items():
    write("sip_message", name, data)
    write("sip_message", name + "_pair", data + b"\r\n\r\n" + data)
for name in ("register", "register_auth", "register_star", "compact_forms"):
    write("registrar", name, SIP[name])
for name, data in DIGEST.items():
    write("digest_header", name, data)
