//! cargo-percpu's integration tests, one binary with a module per subject so
//! the shared helpers in `common/` compile once. `render` and `build_script`
//! run without the `cli` feature (what a build.rs gets); the rest need it.

mod build_script;
mod render;

/// Modules that need the `cli` feature.
macro_rules! with_cli {
    ($($name:ident),* $(,)?) => {
        $(
            #[cfg(feature = "cli")]
            mod $name;
        )*
    };
}

with_cli!(
    ci,
    cli,
    common,
    corpus,
    inspect,
    kernel,
    link,
    link_matrix,
    placed,
    structure,
    tables
);
