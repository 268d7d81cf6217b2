//! `ninesdb certs` (and `ninesdb up --tls`): a throwaway certificate authority with a
//! certificate per node and one for clients, to try TLS locally. Not for production: the
//! CA's key sits next to the certificates and nothing is ever revoked.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// `ninesdb certs`.
#[derive(Debug, Args)]
pub struct CertsArgs {
    /// Where the files go (created if missing).
    #[arg(long, default_value = "ninesdb-tls")]
    out: PathBuf,
    /// Node certificates to make: node1.crt/.key ... (each names localhost and 127.0.0.1).
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// The CA's name (two runs with different names make CAs that do not trust each other's
    /// certificates, as any two runs do).
    #[arg(long, default_value = "ninesdb throwaway CA")]
    ca_name: String,
}

pub fn run(args: &CertsArgs) -> anyhow::Result<ExitCode> {
    let files = make(&args.out, args.nodes, &args.ca_name)?;
    println!(
        "CA {}; node certificates node1..node{}.crt/.key; client certificate {} (key {})",
        files.ca.display(),
        args.nodes,
        files.client_cert.display(),
        files.client_key.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The files [`make`] wrote.
pub struct Files {
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// Node `id`'s certificate and key in `dir`.
pub fn node_files(dir: &Path, id: u64) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("node{id}.crt")),
        dir.join(format!("node{id}.key")),
    )
}

/// Writes `ca.crt` (and `ca.key`), `node<i>.crt/.key` for i in 1..=nodes, `client.crt/.key`.
pub fn make(dir: &Path, nodes: u64, ca_name: &str) -> anyhow::Result<Files> {
    std::fs::create_dir_all(dir)?;
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.distinguished_name = name(ca_name);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    write(&dir.join("ca.crt"), &ca_cert.pem())?;
    write(&dir.join("ca.key"), &ca_key.serialize_pem())?;
    let issuer = Issuer::new(ca_params, ca_key);
    // Node certificates serve both ends of a peer link (server and client auth); the client
    // one only the client end.
    let leaf = |common_name: &str, server: bool| -> anyhow::Result<(String, String)> {
        let key = KeyPair::generate()?;
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        params.distinguished_name = name(common_name);
        params.extended_key_usages = if server {
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ]
        } else {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        };
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    for id in 1..=nodes {
        let (cert, key) = leaf(&format!("ninesdb node {id}"), true)?;
        let (cert_path, key_path) = node_files(dir, id);
        write(&cert_path, &cert)?;
        write(&key_path, &key)?;
    }
    let (cert, key) = leaf("ninesdb client", false)?;
    let files = Files {
        ca: dir.join("ca.crt"),
        client_cert: dir.join("client.crt"),
        client_key: dir.join("client.key"),
    };
    write(&files.client_cert, &cert)?;
    write(&files.client_key, &key)?;
    Ok(files)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// Writes a file; keys are readable by their owner only.
fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    #[cfg(unix)]
    if path.extension().is_some_and(|e| e == "key") {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
