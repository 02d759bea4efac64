#![no_main]
// Any bytes as a stock file.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = backroom_import::stock::read(data);
});
