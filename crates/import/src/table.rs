//! A CSV file as rows addressed by header name, with the line each row starts on.

use crate::RowError;
use std::io::Read;

/// Reads a CSV stream: strips a UTF-8 byte-order mark, accepts `\n`, `\r\n` and `\r` line endings
/// and quoted fields across lines, and refuses rows whose field count differs from the header's.
pub struct Table<R: Read> {
    reader: csv::Reader<R>,
    header: Vec<String>,
    record: csv::StringRecord,
    /// Rows recovered from the text an unterminated quote swallowed, given out before reading on.
    pending: std::collections::VecDeque<(u64, csv::StringRecord)>,
}

/// Whether a field is the rest of the file swallowed by a quote that never closed: it runs over
/// several lines, to the file's last line end, and a line of it reads as a whole row (as many
/// fields as the header). A real multi-line value (an address, a description) does neither.
fn swallowed(field: &str, columns: usize) -> bool {
    field.ends_with('\n')
        && field
            .lines()
            .skip(1)
            .any(|l| csv_fields(l) == Some(columns))
}

/// How many fields one line has as CSV, when it parses alone.
fn csv_fields(line: &str) -> Option<usize> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    let mut rec = csv::StringRecord::new();
    match r.read_record(&mut rec) {
        Ok(true) => Some(rec.len()),
        _ => None,
    }
}

/// One row: its line, and its fields by header position.
pub struct Row<'a> {
    pub line: u64,
    header: &'a [String],
    record: &'a csv::StringRecord,
}

impl Row<'_> {
    /// The trimmed value of a column, `None` when the column is absent or the value empty.
    pub fn get(&self, column: &str) -> Option<&str> {
        let i = self
            .header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(column))?;
        let v = self.record.get(i)?.trim();
        (!v.is_empty()).then_some(v)
    }

    /// A value the row must have.
    pub fn require(&self, column: &str) -> Result<&str, RowError> {
        self.get(column)
            .ok_or_else(|| RowError::new(self.line, Some(column), "is required"))
    }

    pub fn error(&self, column: Option<&str>, message: impl Into<String>) -> RowError {
        RowError::new(self.line, column, message)
    }

    /// Whether the file has this column (header names compare without case).
    pub fn has(&self, column: &str) -> bool {
        self.header.iter().any(|h| h.eq_ignore_ascii_case(column))
    }

    /// Every field, in header order, for a file of rejected rows.
    pub fn fields(&self) -> Vec<String> {
        self.record.iter().map(str::to_string).collect()
    }
}

/// Skips a UTF-8 byte-order mark at the start of a stream and turns `\r\n` and lone `\r` line
/// endings into `\n`, so that line numbers are right whatever the file's line endings.
pub struct SkipBom<R> {
    inner: R,
    checked: bool,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The last byte handed out was a `\r` turned into `\n`: a following `\n` is dropped.
    after_cr: bool,
}

impl<R: Read> SkipBom<R> {
    fn new(inner: R) -> SkipBom<R> {
        SkipBom {
            inner,
            checked: false,
            buf: vec![0; 1 << 16],
            start: 0,
            end: 0,
            after_cr: false,
        }
    }
}

impl<R: Read> Read for SkipBom<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.start == self.end {
                self.start = 0;
                self.end = self.inner.read(&mut self.buf)?;
                if self.end == 0 {
                    return Ok(0);
                }
                if !self.checked {
                    // Make sure the first three bytes are in before looking for a BOM.
                    while self.end < 3 {
                        let k = self.inner.read(&mut self.buf[self.end..])?;
                        if k == 0 {
                            break;
                        }
                        self.end += k;
                    }
                    self.checked = true;
                    if self.buf[..self.end].starts_with(&[0xEF, 0xBB, 0xBF]) {
                        self.start = 3;
                    }
                }
            }
            let mut n = 0;
            while n < out.len() && self.start < self.end {
                let b = self.buf[self.start];
                self.start += 1;
                if self.after_cr && b == b'\n' {
                    self.after_cr = false;
                    continue;
                }
                self.after_cr = b == b'\r';
                out[n] = if b == b'\r' { b'\n' } else { b };
                n += 1;
            }
            if n > 0 || out.is_empty() {
                return Ok(n);
            }
        }
    }
}

impl<R: Read> Table<SkipBom<R>> {
    /// Opens a table and reads its header.
    pub fn new(input: R) -> Result<Table<SkipBom<R>>, RowError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(SkipBom::new(input));
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| RowError::new(1, None, format!("cannot read the header: {e}")))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        if header.len() < 2 {
            return Err(RowError::new(
                1,
                None,
                "the header has fewer than two columns: is the file comma-separated?",
            ));
        }
        Ok(Table {
            reader,
            header,
            record: csv::StringRecord::new(),
            pending: std::collections::VecDeque::new(),
        })
    }
}

impl<R: Read> Table<R> {
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Bytes read so far, for progress.
    pub fn position(&self) -> u64 {
        self.reader.position().byte()
    }

    /// The next row, `None` at the end. A row with the wrong number of fields, or bytes that are
    /// not UTF-8, is an error for that row; reading can go on.
    pub fn next_row(&mut self) -> Option<Result<Row<'_>, RowError>> {
        let read = match self.pending.pop_front() {
            Some((line, rec)) => {
                self.record = rec;
                Ok(Some(line))
            }
            None => self
                .reader
                .read_record(&mut self.record)
                .map(|more| more.then(|| self.record.position().map_or(0, |p| p.line()))),
        };
        match read {
            Ok(None) => None,
            Ok(Some(line)) => {
                // A quote that never closed took every later line into one value: the row is
                // refused, and the lines after it are read again as the rows they are.
                if let Some(i) = self
                    .record
                    .iter()
                    .position(|f| swallowed(f, self.header.len()))
                {
                    let field = self.record.get(i).unwrap_or_default().to_string();
                    let rest = field.split_once('\n').map_or("", |(_, r)| r);
                    let mut again = csv::ReaderBuilder::new()
                        .has_headers(false)
                        .flexible(true)
                        .from_reader(rest.as_bytes());
                    let mut rec = csv::StringRecord::new();
                    let mut found = std::collections::VecDeque::new();
                    while let Ok(true) = again.read_record(&mut rec) {
                        let at = line + rec.position().map_or(1, |p| p.line());
                        found.push_back((at, rec.clone()));
                    }
                    found.extend(self.pending.drain(..));
                    self.pending = found;
                    return Some(Err(RowError::new(
                        line,
                        self.header.get(i).map(String::as_str),
                        "a quote opened in this row is never closed; the row is refused and the lines after it are read on their own",
                    )));
                }
                if self.record.len() == 1 && self.record.get(0).is_some_and(|f| f.trim().is_empty())
                {
                    // A blank line.
                    return self.next_row();
                }
                if self.record.len() != self.header.len() {
                    return Some(Err(RowError::new(
                        line,
                        None,
                        format!(
                            "has {} fields where the header has {} (a missing quote, or a truncated line?)",
                            self.record.len(),
                            self.header.len()
                        ),
                    )));
                }
                // PostgreSQL cannot store U+0000 in text, and no real value holds one.
                if let Some(i) = self.record.iter().position(|f| f.contains('\0')) {
                    return Some(Err(RowError::new(
                        line,
                        self.header.get(i).map(String::as_str),
                        "contains the NUL character (U+0000), which no text may hold",
                    )));
                }
                Some(Ok(Row {
                    line,
                    header: &self.header,
                    record: &self.record,
                }))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                Some(Err(RowError::new(
                    line,
                    None,
                    format!("unreadable row: {e}"),
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(input: &str) -> Vec<Result<(u64, Vec<String>), RowError>> {
        let mut t = Table::new(input.as_bytes()).unwrap();
        let mut out = Vec::new();
        while let Some(r) = t.next_row() {
            out.push(r.map(|r| (r.line, r.fields())));
        }
        out
    }

    #[test]
    fn an_unterminated_quote_refuses_its_row_and_reads_on() {
        let r = rows("a,b,c,d\n1,\"x,2,3\n4,5,6,7\n8,9,10,11\n");
        assert_eq!(r.len(), 3, "{r:?}");
        let e = r[0].as_ref().unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (2, Some("b")), "{e:?}");
        assert!(e.message.contains("never closed"), "{e:?}");
        assert_eq!(
            r[1],
            Ok((3, vec!["4".into(), "5".into(), "6".into(), "7".into()]))
        );
        assert_eq!(
            r[2],
            Ok((4, vec!["8".into(), "9".into(), "10".into(), "11".into()]))
        );
        // A real value over several lines is kept.
        let r = rows("a,b\n1,\"multi\nline\"\n2,3\n");
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0], Ok((2, vec!["1".into(), "multi\nline".into()])));
    }

    #[test]
    fn a_nul_character_refuses_its_row_only() {
        let r = rows("a,b\n1,x\u{0}y\n3,4\n");
        assert_eq!(r.len(), 2);
        let e = r[0].as_ref().unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (2, Some("b")), "{e:?}");
        assert_eq!(r[1], Ok((3, vec!["3".into(), "4".into()])));
    }

    #[test]
    fn bom_crlf_cr_and_quoted_newlines() {
        let bom = "\u{feff}a,b\r\n1,2\r\n";
        assert_eq!(rows(bom), vec![Ok((2, vec!["1".into(), "2".into()]))]);
        let cr = "a,b\r1,2\r3,4\r";
        assert_eq!(rows(cr).len(), 2);
        assert_eq!(
            rows("a,b\r\n1,2\r\n3,4\r\n")
                .into_iter()
                .map(|r| r.map(|x| x.0))
                .collect::<Vec<_>>(),
            vec![Ok(2), Ok(3)]
        );
        assert_eq!(
            rows(cr)
                .into_iter()
                .map(|r| r.map(|x| x.0))
                .collect::<Vec<_>>(),
            vec![Ok(2), Ok(3)]
        );
        let quoted = "a,b\n\"x\ny\",2\n3,4\n";
        let r = rows(quoted);
        assert_eq!(r[0], Ok((2, vec!["x\ny".into(), "2".into()])));
        assert_eq!(r[1].as_ref().map(|x| x.0), Ok(4));
    }

    #[test]
    fn short_and_truncated_rows_are_errors_for_that_row() {
        let r = rows("a,b,c\n1,2,3\n4,5\n6,7,8\n9,\"10");
        assert!(r[0].is_ok());
        assert_eq!(r[1].as_ref().unwrap_err().line, 3);
        assert!(r[2].is_ok());
        assert!(r[3].is_err(), "{:?}", r[3]);
    }

    #[test]
    fn a_semicolon_file_is_refused_at_the_header() {
        assert!(Table::new("a;b;c\n1;2;3\n".as_bytes()).is_err());
    }
}
