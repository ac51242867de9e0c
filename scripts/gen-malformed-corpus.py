#!/usr/bin/env python3
"""Writes tests/corpus/malformed/*.sip, the malformed-SIP corpus that
tests/malformed.rs sends raw over UDP and TCP.

Placeholders replaced byte-wise at send time: {LOCAL_PORT} (the test's own
socket, so a 400 can find its way back via Via/rport), {SWITCH_PORT},
{TRANSPORT} (UDP or TCP). The size cases assume the test config's
max_message_size = 8192. Re-run after editing; the output is committed.
"""
import os
import random

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "corpus", "malformed")


def msg(*lines, body=b""):
    head = b"".join((l if isinstance(l, bytes) else l.encode()) + b"\r\n" for l in lines)
    return head + b"\r\n" + body


VIA = "Via: SIP/2.0/{TRANSPORT} 127.0.0.1:{LOCAL_PORT};branch=z9hG4bK-malformed-%s;rport"
FROM = "From: <sip:fuzzer@127.0.0.1:{LOCAL_PORT}>;tag=fz%s"
TO = "To: <sip:127.0.0.1:{SWITCH_PORT}>"
CALLID = "Call-ID: malformed-%s@127.0.0.1"
CSEQ = "CSeq: 1 OPTIONS"
RURI = "OPTIONS sip:127.0.0.1:{SWITCH_PORT} SIP/2.0"


def options(name, drop=None, extra=(), cl="Content-Length: 0", body=b"", first=RURI):
    hs = [VIA % name, "Max-Forwards: 70", FROM % name, TO, CALLID % name, CSEQ]
    hs = [h for h in hs if not (drop and h.startswith(drop))]
    hs += list(extra)
    if cl is not None:
        hs.append(cl)
    return msg(first, *hs, body=body)


def invite_sdp(name, cl):
    sdp = b"v=0\r\no=fuzz 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
    hs = [
        VIA % name, "Max-Forwards: 70", FROM % name, "To: <sip:4999@127.0.0.1:{SWITCH_PORT}>",
        CALLID % name, "CSeq: 1 INVITE", "Contact: <sip:fuzzer@127.0.0.1:{LOCAL_PORT}>",
        "Content-Type: application/sdp", cl,
    ]
    return msg("INVITE sip:4999@127.0.0.1:{SWITCH_PORT} SIP/2.0", *hs, body=sdp)


def main():
    rnd = random.Random(5060)
    corpus = {}
    corpus["garbage_bytes"] = bytes(rnd.randrange(256) for _ in range(300))
    corpus["garbage_text"] = b"Hello, is this the switch? \x00\x01\x02 GET / HTTP/1.1\r\n\r\n"
    corpus["truncated_headers"] = options("trunc")[:120]
    corpus["truncated_body"] = invite_sdp("truncbody", "Content-Length: 400")
    for h in ["Via", "From", "To", "Call-ID", "CSeq"]:
        corpus["missing_" + h.lower().replace("-", "_")] = options("no" + h, drop=h + ":")
    corpus["duplicate_content_length"] = options(
        "dupcl", extra=["Content-Type: text/plain", "Content-Length: 10"], cl="Content-Length: 4", body=b"0123456789")
    corpus["negative_content_length"] = options("negcl", cl="Content-Length: -5")
    corpus["huge_content_length"] = options("hugecl", cl="Content-Length: 99999999999999999999999")
    corpus["content_length_not_a_number"] = options("nancl", cl="Content-Length: twelve")
    corpus["bad_utf8"] = options("utf8", extra=[b"Subject: caf\xc3\x28 \xff\xfe\xfd", b"X-Bad: \xed\xa0\x80"])
    corpus["nul_in_header"] = options("nul", extra=[b"Subject: a\x00b"])
    corpus["cseq_not_a_number"] = msg(RURI, VIA % "cseqnan", FROM % "cseqnan", TO, CALLID % "cseqnan",
                                      "CSeq: abc OPTIONS", "Content-Length: 0")
    corpus["cseq_method_mismatch"] = msg(RURI, VIA % "cseqmm", FROM % "cseqmm", TO, CALLID % "cseqmm",
                                         "CSeq: 1 INVITE", "Content-Length: 0")
    corpus["header_line_without_colon"] = options("nocolon", extra=["ThisLineHasNoColon"])
    corpus["bad_request_line"] = options("badrl", first="THIS IS NOT SIP AT ALL")
    corpus["request_uri_missing"] = options("nouri", first="OPTIONS SIP/2.0")
    corpus["bad_via"] = options("badvia", drop="Via:", extra=["Via: this is not a via"])
    corpus["bad_status_line"] = msg("SIP/2.0 abc Not A Code", VIA % "badst", FROM % "badst", TO, CALLID % "badst",
                                    CSEQ, "Content-Length: 0")
    # Size limits (test config: max_message_size = 8192).
    corpus["oversize_header"] = options("bighdr", extra=["Subject: " + "a" * 9000])
    corpus["oversize_body"] = options("bigbody", extra=["Content-Type: text/plain"],
                                      cl="Content-Length: 9000", body=b"b" * 9000)
    corpus["over_max_message_size"] = options(
        "bigmsg", extra=["X-Filler-%03d: %s" % (i, "c" * 90) for i in range(100)])

    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".sip"):
            os.remove(os.path.join(OUT, f))
    for name, data in corpus.items():
        with open(os.path.join(OUT, name + ".sip"), "wb") as fh:
            fh.write(data)
    print("wrote %d files to %s" % (len(corpus), os.path.normpath(OUT)))


if __name__ == "__main__":
    main()
