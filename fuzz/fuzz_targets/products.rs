#![no_main]
// Any bytes, in every product layout: the parser reports errors, it never panics.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for f in [
        None,
        Some(backroom_import::Format::Shopify),
        Some(backroom_import::Format::WooCommerce),
        Some(backroom_import::Format::Magento),
        Some(backroom_import::Format::Backroom),
    ] {
        let _ = backroom_import::products::read(data, f, 2);
    }
});
