pub fn run(_u: &str, _a: BenchArgs) -> anyhow::Result<()> {
    Ok(())
}
#[derive(clap::Args)]
pub struct BenchArgs {}
