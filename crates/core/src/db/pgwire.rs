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
//! What it speaks: startup with cleartext, MD5 or SCRAM-SHA-256 passwords (no TLS, as before);
//! prepared statements (Parse/Describe once per connection, then Bind/Execute); simple queries for
//! multi-statement scripts; `COPY ... FROM STDIN`. Results come back in binary for integers,
//! booleans and floats and in text for everything else.

use super::{DbError, Row, Val};
use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use std::io::{Read, Write};
use tokio_postgres::config::Host;
use tokio_postgres::types::{FromSql, ToSql, Type};

enum Stream {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf),
            Stream::Unix(s) => s.write_all(buf),
        }
    }
}

/// A statement prepared on one connection: its server-side name and the types PostgreSQL
/// inferred for its parameters and result columns.
#[derive(Clone, Debug)]
pub struct Prepared {
    name: String,
    params: Vec<Type>,
    columns: Vec<Type>,
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
    /// Set when the connection can no longer be trusted (I/O failure, protocol surprise).
    pub broken: bool,
    next_name: u64,
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
        _ => DbError::Other(format!("{code}: {message}")),
    }
}

/// Whether a column of this type is read in binary (the types [`decode`] knows) or as text.
fn binary(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::INT8 | Type::INT4 | Type::INT2 | Type::BOOL | Type::FLOAT8 | Type::FLOAT4
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
        _ => Val::Text(
            std::str::from_utf8(raw)
                .map_err(|e| DbError::Other(format!("a {ty} column is not UTF-8: {e}")))?
                .to_string(),
        ),
    })
}

impl Wire {
    /// Connects to the first reachable host of `config` and authenticates.
    pub fn connect(config: &tokio_postgres::Config) -> Result<Wire, DbError> {
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
        let timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(std::time::Duration::from_secs(10));
        let mut last = DbError::Other("DATABASE_URL names no host".into());
        let hosts: Vec<Host> = if config.get_hosts().is_empty() {
            vec![Host::Unix("/var/run/postgresql".into())]
        } else {
            config.get_hosts().to_vec()
        };
        for (i, host) in hosts.iter().enumerate() {
            let port = port_of(i);
            let stream = match host {
                Host::Tcp(name) => std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), port))
                    .map_err(io_err)
                    .and_then(|addrs| {
                        let mut err = DbError::Other(format!("{name} has no address"));
                        for a in addrs {
                            match std::net::TcpStream::connect_timeout(&a, timeout) {
                                Ok(s) => {
                                    let _ = s.set_nodelay(true);
                                    return Ok(Stream::Tcp(s));
                                }
                                Err(e) => err = io_err(e),
                            }
                        }
                        Err(err)
                    }),
                Host::Unix(dir) => {
                    std::os::unix::net::UnixStream::connect(dir.join(format!(".s.PGSQL.{port}")))
                        .map(Stream::Unix)
                        .map_err(io_err)
                }
            };
            match stream {
                Ok(stream) => {
                    let mut w = Wire {
                        stream,
                        rbuf: BytesMut::with_capacity(16 * 1024),
                        wbuf: BytesMut::with_capacity(16 * 1024),
                        chunk: vec![0; 64 * 1024],
                        broken: false,
                        next_name: 0,
                    };
                    match w.startup(config, &user) {
                        Ok(()) => return Ok(w),
                        Err(e) => last = e,
                    }
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn startup(&mut self, config: &tokio_postgres::Config, user: &str) -> Result<(), DbError> {
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
                            "PostgreSQL offers no SCRAM-SHA-256 authentication".into(),
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
                Message::BackendKeyData(_) => {}
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
        let r = self.stream.write_all(&self.wbuf);
        self.wbuf.clear();
        r.map_err(|e| {
            self.broken = true;
            io_err(e)
        })
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
                Err(e) => {
                    self.broken = true;
                    return Err(io_err(e));
                }
            };
            self.rbuf.extend_from_slice(&self.chunk[..n]);
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
        })
    }

    /// Runs prepared statements in order as one pipeline ending with one `Sync`; returns each
    /// one's outcome, or the first error (PostgreSQL skips the rest of the pipeline after it).
    ///
    /// The first `queued` steps are writes a unit queued on the strength of an earlier read (no
    /// such row yet): a unique violation there means a concurrent unit inserted the row first,
    /// and is reported as [`DbError::Retry`] so the unit runs again and finds it.
    pub fn run(
        &mut self,
        steps: &[(&Prepared, &[Val])],
        queued: usize,
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
                        outcome.rows.push(Row(vals));
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
