//! SQL that customers publish for other areas to embed in one statement: a customer's email and
//! names for a row that holds its id, and the customers an email search matches, without another
//! area naming `customers`.

/// The email of the customer whose id is `customer`.
pub fn email_of(customer: &str) -> String {
    format!("(SELECT email FROM customers WHERE id = {customer})")
}

/// The first name of the customer whose id is `customer`.
pub fn first_name_of(customer: &str) -> String {
    format!("(SELECT first_name FROM customers WHERE id = {customer})")
}

/// The last name of the customer whose id is `customer`.
pub fn last_name_of(customer: &str) -> String {
    format!("(SELECT last_name FROM customers WHERE id = {customer})")
}

/// A subquery of the ids of customers whose email, name or phone contains the text: its three
/// `?` parameters are [`match_params`] of it.
pub const MATCHING: &str = "SELECT id FROM customers WHERE email_key LIKE ? ESCAPE '\\' \
     OR lower(first_name || ' ' || last_name) LIKE ? ESCAPE '\\' OR phone LIKE ? ESCAPE '\\'";

/// The parameters of [`MATCHING`] for a search text.
pub fn match_params(text: &str) -> Vec<crate::Val> {
    let pat = crate::util::like_contains(text);
    vec![pat.clone().into(), pat.clone().into(), pat.into()]
}
