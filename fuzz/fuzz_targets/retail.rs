#![no_main]
// Any bytes as an Online Retail file: invoices or rejected rows, never a panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(r) = backroom_import::retail::InvoiceReader::new(data, 2) {
        for _ in r {}
    }
});
