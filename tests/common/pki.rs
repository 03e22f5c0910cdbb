//! Test certificates made with the `openssl` CLI: a CA (`ca.pem`), a client
//! certificate signed by it (`client.pem`, `client.key`) and one server
//! certificate per TLS backend host. Fixture configs name the first three by
//! relative path (`proxy_ssl_trusted_certificate ca.pem;`), so every nginx
//! run, `nginx -t` included, gets copies next to its nginx.conf.
//!
//! The files live under cargo's target tmp dir and are reused by later runs;
//! each is made in a scratch place and renamed into it, so concurrent test
//! processes never see half a certificate.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The files nginx configs name by relative path.
pub const CLIENT_FILES: [&str; 3] = ["ca.pem", "client.pem", "client.key"];

pub struct Pki {
    dir: PathBuf,
    /// Serialises the making of server certificates in this process.
    lock: Mutex<()>,
}

/// The shared test PKI, made on first use.
pub fn pki() -> Result<&'static Pki, String> {
    static PKI: OnceLock<Result<Pki, String>> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("upkeep-test-pki");
        if !dir.join("client.pem").exists() {
            make_ca_and_client(&dir)?;
        }
        Ok(Pki {
            dir,
            lock: Mutex::new(()),
        })
    })
    .as_ref()
    .map_err(Clone::clone)
}

impl Pki {
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Copies `ca.pem`, `client.pem` and `client.key` into `dest`.
    pub fn copy_client_files(&self, dest: &Path) -> Result<(), String> {
        for name in CLIENT_FILES {
            std::fs::copy(self.dir.join(name), dest.join(name))
                .map_err(|e| format!("copy {name} to {}: {e}", dest.display()))?;
        }
        Ok(())
    }

    /// (certificate, key) for a server named `host` as a config writes it:
    /// subject CN and DNS SAN `host`; for a bracketed IPv6 literal such as
    /// `[::1]` the CN is the literal itself and there is no SAN, which is
    /// what nginx's name check compares the name `[::1]` with.
    pub fn server(&self, host: &str) -> Result<(PathBuf, PathBuf), String> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let stem: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let cert = self.dir.join(format!("server-{stem}.pem"));
        let key = self.dir.join(format!("server-{stem}.key"));
        if cert.exists() {
            return Ok((cert, key));
        }
        let scratch = tempfile::tempdir_in(&self.dir).map_err(|e| e.to_string())?;
        let san = if host.starts_with('[') {
            String::new()
        } else {
            format!("subjectAltName = DNS:{host}\n")
        };
        let (c, k) = signed_leaf(&self.dir, scratch.path(), host, "serverAuth", &san)?;
        // The key first: a certificate on disk means its key is there too.
        std::fs::rename(k, &key).map_err(|e| e.to_string())?;
        std::fs::rename(c, &cert).map_err(|e| e.to_string())?;
        Ok((cert, key))
    }
}

const REQ_CONFIG: &str = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = placeholder\n\
    [ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
    subjectKeyIdentifier = hash\n";

fn make_ca_and_client(dir: &Path) -> Result<(), String> {
    let parent = dir.parent().unwrap();
    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    let scratch = tempfile::tempdir_in(parent).map_err(|e| e.to_string())?;
    let s = scratch.path();
    std::fs::write(s.join("req.cnf"), REQ_CONFIG).map_err(|e| e.to_string())?;
    openssl(
        s,
        &[
            "req",
            "-x509",
            "-config",
            "req.cnf",
            "-extensions",
            "ca",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=upkeep test CA",
        ],
    )?;
    let (cert, key) = signed_leaf(s, s, "upkeep test client", "clientAuth", "")?;
    std::fs::rename(cert, s.join("client.pem")).map_err(|e| e.to_string())?;
    std::fs::rename(key, s.join("client.key")).map_err(|e| e.to_string())?;
    for leftover in ["req.cnf", "leaf.ext", "leaf.csr"] {
        let _ = std::fs::remove_file(s.join(leftover));
    }
    // Another process may have won the race; its files are as good.
    let made = scratch.keep();
    if std::fs::rename(&made, dir).is_err() {
        let _ = std::fs::remove_dir_all(&made);
        if !dir.join("client.pem").exists() {
            return Err(format!("could not create {}", dir.display()));
        }
    }
    Ok(())
}

/// A key and a certificate for `cn` signed by the CA in `ca_dir`, made in
/// `scratch`; returns their paths.
fn signed_leaf(
    ca_dir: &Path,
    scratch: &Path,
    cn: &str,
    usage: &str,
    extra: &str,
) -> Result<(PathBuf, PathBuf), String> {
    std::fs::write(scratch.join("req.cnf"), REQ_CONFIG).map_err(|e| e.to_string())?;
    std::fs::write(
        scratch.join("leaf.ext"),
        format!(
            "[leaf]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n\
             extendedKeyUsage = {usage}\nauthorityKeyIdentifier = keyid\n{extra}"
        ),
    )
    .map_err(|e| e.to_string())?;
    openssl(
        scratch,
        &[
            "req",
            "-new",
            "-config",
            "req.cnf",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            &format!("/CN={cn}"),
        ],
    )?;
    let serial = format!(
        "0x{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let ca_pem = ca_dir.join("ca.pem").display().to_string();
    let ca_key = ca_dir.join("ca.key").display().to_string();
    openssl(
        scratch,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-set_serial",
            &serial,
            "-days",
            "3650",
            "-extfile",
            "leaf.ext",
            "-extensions",
            "leaf",
            "-out",
            "leaf.pem",
        ],
    )?;
    Ok((scratch.join("leaf.pem"), scratch.join("leaf.key")))
}

fn openssl(cwd: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .map_err(|e| format!("openssl: {e} (scripts/install-test-deps.sh installs it)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
