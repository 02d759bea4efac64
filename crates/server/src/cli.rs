//! What the commands that change the store share: the actor they act as, and how a refusal is
//! said (the field named, as the API names it).

use backroom_core::Ctx;

/// The system acting as an admin through the CLI, named for the audit log (`"budgets (CLI)"`).
pub fn ctx(name: &str) -> Ctx {
    Ctx::new(
        backroom_core::Actor {
            user_id: 0,
            name: name.into(),
            role: backroom_domain::roles::Role::Admin,
        },
        backroom_core::util::now_micros(),
    )
}

/// A refusal as the CLI prints it: `field: reason` for bad input, else the error's words.
pub fn failed(e: backroom_core::Error) -> anyhow::Error {
    match &e {
        backroom_core::Error::Invalid(i) => anyhow::anyhow!("{}: {}", i.field, i.message),
        _ => anyhow::anyhow!("{e}"),
    }
}
