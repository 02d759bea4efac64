//! A small synchronous client for PostgreSQL's wire protocol, built on `postgres-protocol`'s
//! message codecs and `postgres-types`' value encodings.
//!
//! Why not a general driver: a unit of work sends its statements in pipelines (queued writes go
//! out with the next statement that needs an answer, or with `COMMIT`). General drivers end every
//! statement with its own `Sync`, and PostgreSQL flushes its output at each `Sync`: one network
//! write and one wake-up of the reader per statement. Here a pipeline of any length ends with one
//! `Sync`, so it costs one write each way. The connection is a plain blocking socket: each unit
//! of work already runs on a blocking thread of its own, so no runtime sits in between.
//!
//! What it speaks: TLS (rustls, with `sslmode` and `sslrootcert` read as libpq reads them; a
//! Unix socket is never encrypted, as with libpq); startup with cleartext, MD5 or SCRAM-SHA-256
//! passwords (no SCRAM channel binding); prepared statements (Parse/Describe once per
//! connection, then Bind/Execute; Close when the cache lets one go); simple queries for
//! multi-statement scripts; `COPY ... FROM STDIN`; `CancelRequest`. Results come back in binary
//! for integers, booleans and floats and in text for everything else.
//!
//! Every wait has a bound: connecting (TCP, TLS and authentication) waits at most
//! `connect_timeout`; a statement waits at most the query timeout for PostgreSQL's next message,
//! after which the statement is cancelled (a `CancelRequest` on a new connection, carrying the
//! key PostgreSQL gave at startup) and the connection is dropped. TCP keepalive finds a server
//! that vanished while a connection sat idle.

use super::{DbError, Row, Val};
use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::config::Host;
use tokio_postgres::types::{FromSql, ToSql, Type};

/// How long connecting may take unless the URL says (`connect_timeout`, in seconds).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// TCP keepalive unless the URL says (`keepalives_idle`, `keepalives_interval`,
/// `keepalives_retries`): a dead peer is noticed after about two minutes of silence instead of
/// the operating system's two hours.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_RETRIES: u32 = 6;
/// After a cancel, how long to wait for PostgreSQL to confirm the statement stopped.
const CANCEL_WAIT: Duration = Duration::from_secs(2);

/// `sslmode`, with libpq's meanings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS if the server offers it, else cleartext (libpq's default).
    Prefer,
    /// TLS or no connection; the certificate is checked only if `sslrootcert` is given.
    Require,
    /// TLS, with a certificate signed by `sslrootcert`.
    VerifyCa,
    /// TLS, with a certificate signed by `sslrootcert` that names the host.
    VerifyFull,
}

impl SslMode {
    fn parse(v: &str) -> Result<SslMode, DbError> {
        Ok(match v {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(DbError::Other(format!(
                    "bad DATABASE_URL: sslmode={v} is not one of disable, prefer, require, verify-ca, verify-full"
                )));
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where to connect and how: the URL as `tokio_postgres::Config` reads it, plus what that parser
/// does not know (`sslmode=verify-ca|verify-full`, `sslrootcert`), the TLS settings built once
/// from them, and the query timeout.
#[derive(Clone)]
pub struct ConnectOptions {
    config: tokio_postgres::Config,
    ssl: SslMode,
    /// The root certificates' file (`sslrootcert`), for messages.
    root: Option<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
    connect_timeout: Duration,
    keepalive: Option<socket2::TcpKeepalive>,
    /// How long a statement may wait for PostgreSQL's next message; `None`: for ever.
    pub query_timeout: Option<Duration>,
}

/// `%XX` escapes of a URL's query value decoded.
fn percent_decode(v: &str) -> Result<String, DbError> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = v
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        DbError::Other(format!("bad DATABASE_URL: bad % escape in {v}"))
                    })?;
                out.push(hex);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| DbError::Other(format!("bad DATABASE_URL: {v} is not UTF-8")))
}

impl ConnectOptions {
    /// Reads a `postgres://` URL. `sslmode` and `sslrootcert` are taken out and read here;
    /// everything else goes to `tokio_postgres::Config`, which refuses what it does not know.
    pub fn from_url(url: &str, query_timeout: Option<Duration>) -> Result<ConnectOptions, DbError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut rest = Vec::new();
        let (mut ssl, mut root) = (SslMode::Prefer, None);
        let mut keepalive_given = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "sslmode" => ssl = SslMode::parse(&percent_decode(v)?)?,
                "sslrootcert" => root = Some(percent_decode(v)?),
                _ => {
                    keepalive_given |= k.starts_with("keepalives");
                    rest.push(pair);
                }
            }
        }
        let rest_url = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let config: tokio_postgres::Config = rest_url
            .parse()
            .map_err(|e: tokio_postgres::Error| DbError::Other(format!("bad DATABASE_URL: {e}")))?;
        if config.get_channel_binding() == tokio_postgres::config::ChannelBinding::Require {
            return Err(DbError::Other(
                "bad DATABASE_URL: channel_binding=require is not supported (Backroom's SCRAM does not bind to the TLS channel)".into(),
            ));
        }
        if config.get_ssl_negotiation() == tokio_postgres::config::SslNegotiation::Direct {
            return Err(DbError::Other(
                "bad DATABASE_URL: sslnegotiation=direct is not supported; Backroom asks for TLS with PostgreSQL's SSLRequest".into(),
            ));
        }
        if ssl >= SslMode::VerifyCa && root.is_none() {
            return Err(DbError::Other(format!(
                "bad DATABASE_URL: sslmode={} needs sslrootcert=PATH, the root certificate(s) to check the server's certificate against",
                ssl.name()
            )));
        }
        let tls = match ssl {
            SslMode::Disable => None,
            _ => Some(tls_config(ssl, root.as_deref())?),
        };
        let keepalive = if !config.get_keepalives() {
            None
        } else if keepalive_given {
            let mut k = socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle());
            if let Some(i) = config.get_keepalives_interval() {
                k = k.with_interval(i);
            }
            if let Some(r) = config.get_keepalives_retries() {
                k = k.with_retries(r);
            }
            Some(k)
        } else {
            Some(
                socket2::TcpKeepalive::new()
                    .with_time(KEEPALIVE_IDLE)
                    .with_interval(KEEPALIVE_INTERVAL)
                    .with_retries(KEEPALIVE_RETRIES),
            )
        };
        Ok(ConnectOptions {
            connect_timeout: config
                .get_connect_timeout()
                .copied()
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            config,
            ssl,
            root,
            tls,
            keepalive,
            query_timeout,
        })
    }
}

/// The TLS client settings for `mode`: with a root certificate, the chain is checked (and, for
/// `verify-full`, the host name); `prefer` and `require` without one encrypt without checking
/// who answers, as libpq does.
fn tls_config(mode: SslMode, root: Option<&str>) -> Result<Arc<rustls::ClientConfig>, DbError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Other(format!("TLS settings: {e}")))?;
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = match root {
        None => Arc::new(Unverified(provider)),
        Some(path) => {
            use rustls::pki_types::pem::PemObject;
            let bad = |e: &dyn std::fmt::Display| {
                DbError::Other(format!("cannot read sslrootcert={path}: {e}"))
            };
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
            if roots.is_empty() {
                return Err(bad(&"it holds no certificate"));
            }
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| bad(&e))?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    Ok(Arc::new(
        builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
    ))
}

/// `sslmode=prefer` or `require` without a root certificate: any certificate is taken (libpq
/// does the same), but the handshake's signatures are still checked, so the session is
/// encrypted with whoever holds the certificate's key.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca` (or `require` with a root certificate): the chain must lead to the root,
/// the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        // The chain is checked first; a wrong name is reported only for a good chain.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            r => r,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream>),
    Unix(std::os::unix::net::UnixStream),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf),
            Stream::Tls(s) => {
                s.write_all(buf)?;
                s.flush()
            }
            Stream::Unix(s) => s.write_all(buf),
        }
    }
    /// Bounds every read and write of the socket (`None`: no bound).
    fn set_timeouts(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t).and_then(|_| s.set_write_timeout(t)),
            Stream::Tls(s) => s
                .sock
                .set_read_timeout(t)
                .and_then(|_| s.sock.set_write_timeout(t)),
            Stream::Unix(s) => s.set_read_timeout(t).and_then(|_| s.set_write_timeout(t)),
        }
    }
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// How to reach the server a connection talks to, for its cancel requests.
#[derive(Clone)]
enum Peer {
    Tcp {
        addr: SocketAddr,
        /// The name the certificate was checked against, when the connection is encrypted.
        tls: Option<ServerName<'static>>,
        /// `host:port` as the URL gave it, for messages.
        shown: String,
    },
    Unix(std::path::PathBuf),
}

/// A TCP connection with the URL's keepalive and no Nagle delay.
fn tcp_connect(addr: &SocketAddr, opts: &ConnectOptions) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(addr, opts.connect_timeout)?;
    let _ = s.set_nodelay(true);
    if let Some(k) = &opts.keepalive {
        socket2::SockRef::from(&s).set_tcp_keepalive(k)?;
    }
    s.set_read_timeout(Some(opts.connect_timeout))?;
    s.set_write_timeout(Some(opts.connect_timeout))?;
    Ok(s)
}

/// What TLS negotiation gave.
enum Negotiated {
    Tls(Box<TlsStream>),
    /// The server answered `N`: it does not do TLS.
    Refused(TcpStream),
}

/// Asks for TLS with an SSLRequest and, when the server agrees, completes the handshake.
fn negotiate(
    mut sock: TcpStream,
    tls: &Arc<rustls::ClientConfig>,
    name: &ServerName<'static>,
    opts: &ConnectOptions,
    shown: &str,
) -> Result<Negotiated, DbError> {
    let fail = |e: std::io::Error| {
        if timed_out(&e) {
            DbError::Timeout(format!(
                "PostgreSQL at {shown} did not answer the TLS request within connect_timeout ({} s)",
                opts.connect_timeout.as_secs()
            ))
        } else {
            DbError::Other(format!("PostgreSQL at {shown}: {e}"))
        }
    };
    let mut buf = BytesMut::new();
    frontend::ssl_request(&mut buf);
    sock.write_all(&buf).map_err(fail)?;
    // Exactly one byte: anything after it would be a man in the middle's, not PostgreSQL's
    // (CVE-2021-23222), and must reach the TLS layer, which refuses it.
    let mut answer = [0u8; 1];
    sock.read_exact(&mut answer).map_err(fail)?;
    match answer[0] {
        b'S' => {}
        b'N' => return Ok(Negotiated::Refused(sock)),
        b => {
            return Err(DbError::Other(format!(
                "PostgreSQL at {shown} answered the TLS request with {:?}, not S or N",
                char::from(b)
            )));
        }
    }
    let conn = rustls::ClientConnection::new(tls.clone(), name.clone())
        .map_err(|e| DbError::Other(format!("TLS with PostgreSQL at {shown}: {e}")))?;
    let mut stream = rustls::StreamOwned::new(conn, sock);
    while stream.conn.is_handshaking() {
        if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
            return Err(handshake_error(e, opts, name, shown));
        }
    }
    Ok(Negotiated::Tls(Box::new(stream)))
}

/// A failed handshake in words: the certificate's name or issuer, or what else went wrong.
fn handshake_error(
    e: std::io::Error,
    opts: &ConnectOptions,
    name: &ServerName<'static>,
    shown: &str,
) -> DbError {
    if timed_out(&e) {
        return DbError::Timeout(format!(
            "TLS with PostgreSQL at {shown} did not complete within connect_timeout ({} s)",
            opts.connect_timeout.as_secs()
        ));
    }
    let root = opts.root.as_deref().unwrap_or("");
    let mode = opts.ssl.name();
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForNameContext { presented, .. },
        )) => DbError::Other(format!(
            "PostgreSQL at {shown}: its certificate is not valid for the host name {} (sslmode={mode} checks the name); it is valid for {}",
            name.to_str(),
            presented.join(", ")
        )),
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)) => {
            DbError::Other(format!(
                "PostgreSQL at {shown}: its certificate is not valid for the host name {} (sslmode={mode} checks the name)",
                name.to_str()
            ))
        }
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
            DbError::Other(format!(
                "PostgreSQL at {shown}: its certificate is not signed by a certificate in sslrootcert={root} (sslmode={mode})"
            ))
        }
        Some(rustls::Error::InvalidCertificate(c)) => DbError::Other(format!(
            "PostgreSQL at {shown}: its certificate is refused (sslmode={mode}): {c:?}"
        )),
        Some(other) => DbError::Other(format!("TLS with PostgreSQL at {shown} failed: {other}")),
        None => DbError::Other(format!("TLS with PostgreSQL at {shown} failed: {e}")),
    }
}

/// A statement prepared on one connection: its server-side name and the types PostgreSQL
/// inferred for its parameters and result columns.
#[derive(Clone, Debug)]
pub struct Prepared {
    name: String,
    params: Vec<Type>,
    columns: Vec<Type>,
    /// The result columns' names, shared by every row the statement returns.
    names: super::Names,
}

impl Prepared {
    /// The statement's server-side name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What one statement of a pipeline gave back.
#[derive(Debug, Default)]
pub struct Outcome {
    pub rows: Vec<Row>,
    /// Rows inserted, updated or deleted (from the command tag).
    pub changed: u64,
}

/// One connection.
pub struct Wire {
    stream: Stream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    chunk: Vec<u8>,
    /// Set when the connection can no longer be trusted (I/O failure, protocol surprise, a
    /// statement that timed out); nothing more is sent on it and the pool drops it.
    pub broken: bool,
    next_name: u64,
    /// Statements the cache let go, closed at the end of the next pipeline.
    to_close: Vec<String>,
    /// The process id and secret key PostgreSQL gave at startup, for cancel requests.
    key: Option<(i32, i32)>,
    peer: Peer,
    opts: Arc<ConnectOptions>,
    /// The bound on a statement's wait now in force on the socket.
    timeout: Option<Duration>,
}

fn io_err(e: std::io::Error) -> DbError {
    DbError::Other(format!("PostgreSQL connection: {e}"))
}

/// A PostgreSQL error response as a [`DbError`], classified by SQLSTATE.
fn server_error(fields: &mut postgres_protocol::message::backend::ErrorFields<'_>) -> DbError {
    let (mut code, mut message, mut constraint) = (String::new(), String::new(), String::new());
    while let Ok(Some(f)) = fields.next() {
        match f.type_() {
            b'C' => code = String::from_utf8_lossy(f.value_bytes()).into_owned(),
            b'M' => message = String::from_utf8_lossy(f.value_bytes()).into_owned(),
            b'n' => constraint = String::from_utf8_lossy(f.value_bytes()).into_owned(),
            _ => {}
        }
    }
    match code.as_str() {
        "23505" => DbError::Unique(format!("{message} ({constraint})")),
        "40001" | "40P01" => DbError::Retry(message),
        // A statement prepared before a table changed its columns (a migration ran).
        "0A000" if message.starts_with("cached plan must not change result type") => {
            DbError::StalePlan(message)
        }
        _ => DbError::Other(format!("{code}: {message}")),
    }
}

/// Whether a column of this type is read in binary (the types [`decode`] knows) or as text.
fn binary(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::INT8
            | Type::INT4
            | Type::INT2
            | Type::BOOL
            | Type::FLOAT8
            | Type::FLOAT4
            | Type::BYTEA
    )
}

fn decode(ty: &Type, raw: Option<&[u8]>) -> Result<Val, DbError> {
    let Some(raw) = raw else {
        return Ok(Val::Null);
    };
    let bad = |e: Box<dyn std::error::Error + Sync + Send>| {
        DbError::Other(format!("cannot read a {ty} column: {e}"))
    };
    Ok(match *ty {
        Type::INT8 => Val::Int(i64::from_sql(ty, raw).map_err(bad)?),
        Type::INT4 => Val::Int(i64::from(i32::from_sql(ty, raw).map_err(bad)?)),
        Type::INT2 => Val::Int(i64::from(i16::from_sql(ty, raw).map_err(bad)?)),
        Type::BOOL => Val::Bool(bool::from_sql(ty, raw).map_err(bad)?),
        Type::FLOAT8 => Val::Float(f64::from_sql(ty, raw).map_err(bad)?),
        Type::FLOAT4 => Val::Float(f64::from(f32::from_sql(ty, raw).map_err(bad)?)),
        Type::BYTEA => Val::Bytes(raw.to_vec()),
        _ => Val::Text(
            std::str::from_utf8(raw)
                .map_err(|e| DbError::Other(format!("a {ty} column is not UTF-8: {e}")))?
                .to_string(),
        ),
    })
}

impl Wire {
    /// Connects to the first reachable host of the URL, secures the connection as `sslmode`
    /// says, and authenticates.
    pub fn connect(opts: &Arc<ConnectOptions>) -> Result<Wire, DbError> {
        let config = &opts.config;
        let user = config
            .get_user()
            .ok_or_else(|| DbError::Other("DATABASE_URL names no user".into()))?
            .to_string();
        let port_of = |i: usize| {
            config
                .get_ports()
                .get(i)
                .or_else(|| config.get_ports().first())
                .copied()
                .unwrap_or(5432)
        };
        let hosts: Vec<Host> = if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty()
        {
            vec![Host::Unix("/var/run/postgresql".into())]
        } else {
            config.get_hosts().to_vec()
        };
        let mut last = DbError::Other("DATABASE_URL names no host".into());
        for i in 0..hosts.len().max(config.get_hostaddrs().len()) {
            let port = port_of(i);
            let (host, hostaddr) = (hosts.get(i), config.get_hostaddrs().get(i));
            let attempt = match (host, hostaddr) {
                (Some(Host::Unix(dir)), None) => {
                    let path = dir.join(format!(".s.PGSQL.{port}"));
                    std::os::unix::net::UnixStream::connect(&path)
                        .map_err(|e| {
                            DbError::Other(format!("PostgreSQL at {}: {e}", path.display()))
                        })
                        .and_then(|s| {
                            let t = Some(opts.connect_timeout);
                            s.set_read_timeout(t).map_err(io_err)?;
                            s.set_write_timeout(t).map_err(io_err)?;
                            Ok((Stream::Unix(s), Peer::Unix(path)))
                        })
                }
                _ => {
                    // With `hostaddr`, connect there and check the certificate against `host`.
                    let name = match (host, hostaddr) {
                        (Some(Host::Tcp(n)), _) => n.clone(),
                        (_, Some(ip)) => ip.to_string(),
                        _ => String::new(),
                    };
                    let shown = format!("{name}:{port}");
                    let addrs: Result<Vec<SocketAddr>, DbError> = match hostaddr {
                        Some(ip) => Ok(vec![SocketAddr::new(*ip, port)]),
                        None => std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), port))
                            .map(Iterator::collect)
                            .map_err(|e| DbError::Other(format!("PostgreSQL at {shown}: {e}"))),
                    };
                    addrs.and_then(|addrs| {
                        let mut err = DbError::Other(format!("{name} has no address"));
                        for addr in addrs {
                            match Self::open_tcp(&addr, &name, &shown, opts) {
                                Ok(s) => return Ok(s),
                                Err(e) => err = e,
                            }
                        }
                        Err(err)
                    })
                }
            };
            match attempt {
                Ok((stream, peer)) => {
                    let mut w = Wire {
                        stream,
                        rbuf: BytesMut::with_capacity(16 * 1024),
                        wbuf: BytesMut::with_capacity(16 * 1024),
                        chunk: vec![0; 64 * 1024],
                        broken: false,
                        next_name: 0,
                        to_close: Vec::new(),
                        key: None,
                        peer,
                        opts: opts.clone(),
                        timeout: Some(opts.connect_timeout),
                    };
                    match w.startup(&user) {
                        Ok(()) => {
                            w.set_query_timeout(opts.query_timeout)?;
                            return Ok(w);
                        }
                        Err(e) => last = e,
                    }
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// A TCP connection to `addr`, with TLS as `sslmode` asks. `prefer` falls back to cleartext
    /// when the server does not offer TLS or the handshake fails; stricter modes never do.
    fn open_tcp(
        addr: &SocketAddr,
        name: &str,
        shown: &str,
        opts: &ConnectOptions,
    ) -> Result<(Stream, Peer), DbError> {
        let connect = || {
            tcp_connect(addr, opts).map_err(|e| {
                if timed_out(&e) {
                    DbError::Timeout(format!(
                        "PostgreSQL at {shown} did not accept a connection within connect_timeout ({} s)",
                        opts.connect_timeout.as_secs()
                    ))
                } else {
                    DbError::Other(format!("PostgreSQL at {shown} ({addr}): {e}"))
                }
            })
        };
        let plain = |sock| {
            (
                Stream::Tcp(sock),
                Peer::Tcp {
                    addr: *addr,
                    tls: None,
                    shown: shown.to_string(),
                },
            )
        };
        let sock = connect()?;
        let Some(tls) = &opts.tls else {
            return Ok(plain(sock));
        };
        let server_name = ServerName::try_from(name.to_string()).map_err(|_| {
            DbError::Other(format!(
                "bad DATABASE_URL: {name} is not a host name TLS can check"
            ))
        })?;
        match negotiate(sock, tls, &server_name, opts, shown) {
            Ok(Negotiated::Tls(s)) => Ok((
                Stream::Tls(s),
                Peer::Tcp {
                    addr: *addr,
                    tls: Some(server_name),
                    shown: shown.to_string(),
                },
            )),
            Ok(Negotiated::Refused(sock)) if opts.ssl == SslMode::Prefer => Ok(plain(sock)),
            Ok(Negotiated::Refused(_)) => Err(DbError::Other(format!(
                "PostgreSQL at {shown} does not offer TLS (it answered N to the SSLRequest), and sslmode={} forbids connecting without it",
                opts.ssl.name()
            ))),
            Err(DbError::Other(e)) if opts.ssl == SslMode::Prefer => {
                tracing::warn!(error = %e, "TLS failed with sslmode=prefer; connecting without it");
                Ok(plain(connect()?))
            }
            Err(e) => Err(e),
        }
    }

    /// Bounds how long a statement waits for PostgreSQL (`None`: for ever).
    pub fn set_query_timeout(&mut self, t: Option<Duration>) -> Result<(), DbError> {
        if self.timeout != t {
            self.stream.set_timeouts(t).map_err(io_err)?;
            self.timeout = t;
        }
        Ok(())
    }

    fn startup(&mut self, user: &str) -> Result<(), DbError> {
        let opts = self.opts.clone();
        let config = &opts.config;
        let mut params: Vec<(&str, &str)> = vec![("user", user), ("client_encoding", "UTF8")];
        if let Some(db) = config.get_dbname() {
            params.push(("database", db));
        }
        if let Some(o) = config.get_options() {
            params.push(("options", o));
        }
        if let Some(a) = config.get_application_name() {
            params.push(("application_name", a));
        }
        frontend::startup_message(params.iter().copied(), &mut self.wbuf).map_err(io_err)?;
        self.send()?;
        let password = config.get_password().unwrap_or_default().to_vec();
        let mut scram: Option<ScramSha256> = None;
        loop {
            match self.read()? {
                Message::AuthenticationOk => {}
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(&password, &mut self.wbuf).map_err(io_err)?;
                    self.send()?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = postgres_protocol::authentication::md5_hash(
                        user.as_bytes(),
                        &password,
                        body.salt(),
                    );
                    frontend::password_message(hash.as_bytes(), &mut self.wbuf).map_err(io_err)?;
                    self.send()?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut offered = false;
                    let mut mechanisms = body.mechanisms();
                    while let Some(m) = mechanisms.next().map_err(io_err)? {
                        offered |= m == "SCRAM-SHA-256";
                    }
                    if !offered {
                        return Err(DbError::Other(
                            "PostgreSQL offers no SCRAM-SHA-256 authentication (SCRAM-SHA-256-PLUS, with channel binding, is not supported)".into(),
                        ));
                    }
                    let s = ScramSha256::new(&password, ChannelBinding::unsupported());
                    frontend::sasl_initial_response("SCRAM-SHA-256", s.message(), &mut self.wbuf)
                        .map_err(io_err)?;
                    self.send()?;
                    scram = Some(s);
                }
                Message::AuthenticationSaslContinue(body) => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| DbError::Other("unexpected SASL message".into()))?;
                    s.update(body.data()).map_err(io_err)?;
                    frontend::sasl_response(s.message(), &mut self.wbuf).map_err(io_err)?;
                    self.send()?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    scram
                        .as_mut()
                        .ok_or_else(|| DbError::Other("unexpected SASL message".into()))?
                        .finish(body.data())
                        .map_err(io_err)?;
                }
                Message::BackendKeyData(body) => {
                    self.key = Some((body.process_id(), body.secret_key()));
                }
                Message::ReadyForQuery(_) => return Ok(()),
                Message::ErrorResponse(body) => {
                    let e = server_error(&mut body.fields());
                    return Err(DbError::Other(format!("cannot reach PostgreSQL: {e}")));
                }
                _ => {
                    return Err(DbError::Other(
                        "PostgreSQL asked for an authentication method Backroom does not speak"
                            .into(),
                    ));
                }
            }
        }
    }

    fn send(&mut self) -> Result<(), DbError> {
        if self.broken {
            self.wbuf.clear();
            return Err(DbError::Other(
                "the PostgreSQL connection was dropped after an earlier failure".into(),
            ));
        }
        let r = self.stream.write_all(&self.wbuf);
        self.wbuf.clear();
        match r {
            Ok(()) => Ok(()),
            Err(e) if timed_out(&e) => Err(self.timed_out()),
            Err(e) => {
                self.broken = true;
                Err(io_err(e))
            }
        }
    }

    /// The next message that is not a notice or a parameter report.
    fn read(&mut self) -> Result<Message, DbError> {
        loop {
            match Message::parse(&mut self.rbuf) {
                Ok(Some(Message::NoticeResponse(_)))
                | Ok(Some(Message::ParameterStatus(_)))
                | Ok(Some(Message::NotificationResponse(_))) => continue,
                Ok(Some(m)) => return Ok(m),
                Ok(None) => {}
                Err(e) => {
                    self.broken = true;
                    return Err(io_err(e));
                }
            }
            let n = match self.stream.read(&mut self.chunk) {
                Ok(0) => {
                    self.broken = true;
                    return Err(DbError::Other("PostgreSQL closed the connection".into()));
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if timed_out(&e) => return Err(self.timed_out()),
                Err(e) => {
                    self.broken = true;
                    return Err(io_err(e));
                }
            };
            self.rbuf.extend_from_slice(&self.chunk[..n]);
        }
    }

    /// PostgreSQL did not answer in time: the statement is cancelled, the connection is given
    /// up, and the caller is told.
    fn timed_out(&mut self) -> DbError {
        self.broken = true;
        let Some(key) = self.key else {
            // Still connecting: there is nothing to cancel yet.
            return DbError::Timeout(format!(
                "PostgreSQL did not answer within connect_timeout ({} s) while connecting",
                self.opts.connect_timeout.as_secs()
            ));
        };
        let waited = self.timeout.map_or(0, |t| t.as_millis());
        match self.cancel(key) {
            Ok(()) => {
                self.await_cancel();
                DbError::Timeout(format!(
                    "PostgreSQL did not answer within {waited} ms (BACKROOM_PG_QUERY_TIMEOUT_MS); the statement was cancelled and its connection closed"
                ))
            }
            Err(e) => DbError::Timeout(format!(
                "PostgreSQL did not answer within {waited} ms (BACKROOM_PG_QUERY_TIMEOUT_MS), and cancelling the statement failed ({e}); its connection was closed"
            )),
        }
    }

    /// Sends a `CancelRequest` for this connection's backend on a new connection to the same
    /// server, encrypted when this one is.
    fn cancel(&self, (pid, secret): (i32, i32)) -> Result<(), DbError> {
        let mut buf = BytesMut::new();
        frontend::cancel_request(pid, secret, &mut buf);
        let opts = &self.opts;
        let mut stream = match &self.peer {
            Peer::Unix(path) => {
                let s = std::os::unix::net::UnixStream::connect(path).map_err(io_err)?;
                s.set_read_timeout(Some(opts.connect_timeout))
                    .map_err(io_err)?;
                Stream::Unix(s)
            }
            Peer::Tcp { addr, tls, shown } => {
                let sock = tcp_connect(addr, opts).map_err(io_err)?;
                match (tls, &opts.tls) {
                    (Some(name), Some(config)) => {
                        match negotiate(sock, config, name, opts, shown)? {
                            Negotiated::Tls(s) => Stream::Tls(s),
                            Negotiated::Refused(_) => {
                                return Err(DbError::Other(
                                    "the server no longer offers TLS".into(),
                                ));
                            }
                        }
                    }
                    _ => Stream::Tcp(sock),
                }
            }
        };
        stream.write_all(&buf).map_err(io_err)?;
        // PostgreSQL closes the connection once it has read the request.
        let _ = stream.read(&mut [0u8; 1]);
        Ok(())
    }

    /// After a cancel: reads what PostgreSQL still sends, up to its `ReadyForQuery` (the
    /// statement has stopped), for at most [`CANCEL_WAIT`].
    fn await_cancel(&mut self) {
        let until = Instant::now() + CANCEL_WAIT;
        let _ = self.stream.set_timeouts(Some(CANCEL_WAIT));
        loop {
            match Message::parse(&mut self.rbuf) {
                Ok(Some(Message::ReadyForQuery(_))) | Err(_) => return,
                Ok(Some(_)) => continue,
                Ok(None) => {}
            }
            if Instant::now() >= until {
                return;
            }
            match self.stream.read(&mut self.chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => self.rbuf.extend_from_slice(&self.chunk[..n]),
            }
        }
    }

    /// Reads up to and including `ReadyForQuery`; returns the first error seen on the way.
    fn drain(&mut self, mut first: Option<DbError>) -> Result<(), DbError> {
        loop {
            match self.read()? {
                Message::ReadyForQuery(_) => return first.map_or(Ok(()), Err),
                Message::ErrorResponse(body) if first.is_none() => {
                    first = Some(server_error(&mut body.fields()));
                }
                _ => {}
            }
        }
    }

    fn protocol(&mut self, what: &str) -> DbError {
        self.broken = true;
        DbError::Other(format!("unexpected PostgreSQL message: {what}"))
    }

    /// Prepares `sql` under a fresh name.
    pub fn prepare(&mut self, sql: &str) -> Result<Prepared, DbError> {
        self.next_name += 1;
        let name = format!("s{}", self.next_name);
        frontend::parse(&name, sql, std::iter::empty(), &mut self.wbuf).map_err(io_err)?;
        frontend::describe(b'S', &name, &mut self.wbuf).map_err(io_err)?;
        frontend::sync(&mut self.wbuf);
        self.send()?;
        let mut params = Vec::new();
        let mut columns = Vec::new();
        let mut names: Vec<Box<str>> = Vec::new();
        loop {
            match self.read()? {
                Message::ParseComplete | Message::NoData => {}
                Message::ParameterDescription(body) => {
                    let mut it = body.parameters();
                    while let Some(oid) = it.next().map_err(io_err)? {
                        params.push(Type::from_oid(oid).unwrap_or(Type::TEXT));
                    }
                }
                Message::RowDescription(body) => {
                    let mut it = body.fields();
                    while let Some(f) = it.next().map_err(io_err)? {
                        columns.push(Type::from_oid(f.type_oid()).unwrap_or(Type::TEXT));
                        names.push(f.name().into());
                    }
                }
                Message::ErrorResponse(body) => {
                    let e = server_error(&mut body.fields());
                    self.drain(Some(e))?;
                }
                Message::ReadyForQuery(_) => break,
                _ => return Err(self.protocol("while preparing")),
            }
        }
        Ok(Prepared {
            name,
            params,
            columns,
            names: names.into(),
        })
    }

    /// Runs prepared statements in order as one pipeline ending with one `Sync`; returns each
    /// one's outcome, or the first error (PostgreSQL skips the rest of the pipeline after it).
    ///
    /// The first `queued` steps are writes a unit queued on the strength of an earlier read (no
    /// such row yet): a unique violation there means a concurrent unit inserted the row first,
    /// and is reported as [`DbError::Retry`] so the unit runs again and finds it.
    ///
    /// Statements the cache let go ([`Wire::close_later`]) are closed at the end of the
    /// pipeline, after every statement that may still use them; if the pipeline fails, they are
    /// closed with the next one.
    pub fn run(
        &mut self,
        steps: &[(&Prepared, &[Val])],
        queued: usize,
    ) -> Result<Vec<Outcome>, DbError> {
        let closes = std::mem::take(&mut self.to_close);
        let r = self.run_closing(steps, queued, &closes);
        if r.is_err() && !self.broken {
            self.to_close.extend(closes);
        }
        r
    }

    /// Closes the prepared statement `name` with the next pipeline.
    pub fn close_later(&mut self, name: String) {
        self.to_close.push(name);
    }

    /// Forgets every prepared statement of this connection (`DEALLOCATE ALL`); outside a
    /// transaction.
    pub fn deallocate_all(&mut self) -> Result<(), DbError> {
        self.to_close.clear();
        self.simple("DEALLOCATE ALL")
    }

    fn run_closing(
        &mut self,
        steps: &[(&Prepared, &[Val])],
        queued: usize,
        closes: &[String],
    ) -> Result<Vec<Outcome>, DbError> {
        for (st, vals) in steps {
            if vals.len() != st.params.len() {
                return Err(DbError::Other(format!(
                    "statement takes {} parameters, {} given",
                    st.params.len(),
                    vals.len()
                )));
            }
            let formats: Vec<i16> = st.columns.iter().map(|t| i16::from(binary(t))).collect();
            let r = frontend::bind(
                "",
                &st.name,
                std::iter::once(1i16),
                st.params.iter().zip(vals.iter()),
                |(ty, v), buf| match v.to_sql_checked(ty, buf)? {
                    tokio_postgres::types::IsNull::Yes => Ok(postgres_protocol::IsNull::Yes),
                    tokio_postgres::types::IsNull::No => Ok(postgres_protocol::IsNull::No),
                },
                formats,
                &mut self.wbuf,
            );
            if let Err(e) = r {
                self.wbuf.clear();
                return Err(DbError::Other(match e {
                    frontend::BindError::Conversion(e) => format!("cannot send a parameter: {e}"),
                    frontend::BindError::Serialization(e) => e.to_string(),
                }));
            }
            frontend::execute("", 0, &mut self.wbuf).map_err(io_err)?;
        }
        for name in closes {
            frontend::close(b'S', name, &mut self.wbuf).map_err(io_err)?;
        }
        frontend::sync(&mut self.wbuf);
        self.send()?;
        let mut out = Vec::with_capacity(steps.len());
        for (at, (st, _)) in steps.iter().enumerate() {
            let mut outcome = Outcome::default();
            loop {
                match self.read()? {
                    Message::BindComplete => {}
                    Message::DataRow(body) => {
                        let buf = body.buffer();
                        let mut ranges = body.ranges();
                        let mut vals = Vec::with_capacity(st.columns.len());
                        let mut i = 0;
                        while let Some(range) = ranges.next().map_err(io_err)? {
                            let ty = st.columns.get(i).unwrap_or(&Type::TEXT);
                            let raw = match range {
                                Some(r) => Some(
                                    buf.get(r)
                                        .ok_or_else(|| self.protocol("a value past its row"))?,
                                ),
                                None => None,
                            };
                            vals.push(decode(ty, raw)?);
                            i += 1;
                        }
                        outcome.rows.push(Row::new(st.names.clone(), vals));
                    }
                    Message::CommandComplete(body) => {
                        let tag = body.tag().map_err(io_err)?;
                        outcome.changed = tag
                            .rsplit(' ')
                            .next()
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(0);
                        break;
                    }
                    Message::EmptyQueryResponse => break,
                    Message::ErrorResponse(body) => {
                        let e = match server_error(&mut body.fields()) {
                            DbError::Unique(m) if at < queued => DbError::Retry(m),
                            e => e,
                        };
                        self.drain(Some(e))?;
                    }
                    _ => return Err(self.protocol("in a pipeline")),
                }
            }
            out.push(outcome);
        }
        for _ in closes {
            match self.read()? {
                Message::CloseComplete => {}
                Message::ErrorResponse(body) => {
                    let e = server_error(&mut body.fields());
                    self.drain(Some(e))?;
                }
                _ => return Err(self.protocol("instead of CloseComplete")),
            }
        }
        match self.read()? {
            Message::ReadyForQuery(_) => Ok(out),
            _ => Err(self.protocol("after a pipeline")),
        }
    }

    /// Runs a script of one or more statements with no parameters (simple query protocol).
    pub fn simple(&mut self, sql: &str) -> Result<(), DbError> {
        frontend::query(sql, &mut self.wbuf).map_err(io_err)?;
        self.send()?;
        self.drain(None)
    }

    /// Starts `COPY ... FROM STDIN`; then [`Wire::copy_data`] as often as needed and
    /// [`Wire::copy_done`].
    pub fn copy_start(&mut self, sql: &str) -> Result<(), DbError> {
        frontend::query(sql, &mut self.wbuf).map_err(io_err)?;
        self.send()?;
        match self.read()? {
            Message::CopyInResponse(_) => Ok(()),
            Message::ErrorResponse(body) => {
                let e = server_error(&mut body.fields());
                self.drain(Some(e))
            }
            _ => Err(self.protocol("instead of COPY")),
        }
    }

    /// Sends rows in COPY's text format.
    pub fn copy_data(&mut self, data: bytes::Bytes) -> Result<(), DbError> {
        frontend::CopyData::new(data)
            .map_err(io_err)?
            .write(&mut self.wbuf);
        self.send()
    }

    /// Ends a COPY; PostgreSQL's verdict on every row sent.
    pub fn copy_done(&mut self) -> Result<(), DbError> {
        frontend::copy_done(&mut self.wbuf);
        self.send()?;
        self.drain(None)
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        if !self.broken {
            frontend::terminate(&mut self.wbuf);
            let _ = self.stream.write_all(&self.wbuf);
        }
    }
}
