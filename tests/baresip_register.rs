//! baresip, a real SIP phone, registers as agent 1001 with digest auth over
//! UDP and over TCP, and /api/registrations shows the binding with baresip's
//! contact.
//!
//! Debian 12's baresip 1.0.0 (libre) computes MD5 digests only, and aborts
//! the registration ("Register: Function not implemented") as soon as the
//! 401 carries any SHA-256 challenge, whatever its position; so these tests
//! run with the switch's default, MD5 alone.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{baresip_bin, free_port, Switch, SwitchConfig, Transport};

/// baresip run headless from a temporary config directory; killed on drop.
struct Baresip {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Baresip {
    fn start(switch: &Switch, ext: &str, sip_port: u16, transport: Transport) -> Baresip {
        let bin = baresip_bin();
        let dir = tempfile::Builder::new().prefix("baresip-").tempdir().unwrap();
        // No audio, no UI: only what registering needs.
        let config = format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t127.0.0.1:{sip_port}\n\
             sip_trans_def\t\t{tp}\n\
             call_local_timeout\t120\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module_tmp\t\tuuid.so\n\
             module_tmp\t\taccount.so\n",
            tp = transport.name()
        );
        std::fs::write(dir.path().join("config"), config).unwrap();
        let accounts = format!(
            "<sip:{ext}@127.0.0.1:{port};transport={tp}>;auth_pass={pass};regint=60\n",
            port = switch.sip_port,
            pass = switch.config.password_of(ext),
            tp = transport.name()
        );
        std::fs::write(dir.path().join("accounts"), accounts).unwrap();
        std::fs::write(dir.path().join("contacts"), "").unwrap();
        let out = std::fs::File::create(dir.path().join("baresip.log")).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(bin)
            .arg("-f")
            .arg(dir.path())
            .arg("-s") // SIP trace into the log, for failures
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        Baresip {
            child: Some(child),
            dir,
        }
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.path().join("baresip.log")).unwrap_or_default()).into_owned()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "\n===== baresip log =====\n{}\n===== end of baresip log =====",
                self.log()
            );
        }
    }
}

fn baresip_registers(transport: Transport) {
    let switch = Switch::start(SwitchConfig::default());
    let port = free_port();
    let phone = Baresip::start(&switch, "1001", port, transport);
    let want = format!("127.0.0.1:{port}");
    let reg = switch.wait_for_registration("1001", Duration::from_secs(8), |r| r.contact.contains(&want));
    let reg = reg.unwrap_or_else(|| {
        panic!(
            "1001 (baresip on {want}) never appeared in /api/registrations: {:?}",
            switch.registrations()
        )
    });
    assert!(
        reg.contact.starts_with("sip:") || reg.contact.starts_with("<sip:"),
        "{:?}",
        reg.raw
    );
    let expires = reg.expires.unwrap_or_default();
    assert!(
        expires > 0.0 && expires <= 60.0,
        "regint=60 asked for 60 s, got {expires}: {:?}",
        reg.raw
    );
    let log = phone.log();
    assert!(
        log.contains("200 OK") || log.contains("200 Registered"),
        "baresip saw no 200:\n{log}"
    );
}

#[test]
fn baresip_registers_over_udp() {
    baresip_registers(Transport::Udp);
}

#[test]
fn baresip_registers_over_tcp() {
    baresip_registers(Transport::Tcp);
}
