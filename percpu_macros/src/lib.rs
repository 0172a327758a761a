//! The `#[def_percpu]` attribute of the [`percpu`](https://docs.rs/percpu) crate.
//!
//! Use it through `percpu::def_percpu`; this crate only turns the attribute
//! into items. Everything that depends on the target (registers, instruction
//! sequences) or on `percpu`'s features lives in the runtime crate, as
//! `macro_rules!` macros that the generated code calls: the expansion is the
//! same for every target, and the runtime that is compiled for the target
//! decides what it becomes.

#![deny(missing_docs)]

mod expand;
mod lifetimes;
mod validate;

use proc_macro::TokenStream;

/// Defines a per-CPU static: every CPU gets its own copy of the value.
///
/// ```ignore
/// #[percpu::def_percpu]
/// static CPU_ID: usize = 0;
/// ```
///
/// For `static X: T = init;` it generates:
/// - `__PERCPU_X`, the storage in section `.percpu`, carrying the item's
///   attributes (`#[no_mangle]` included, so assembly can name it);
/// - `X_WRAPPER`, a zero-sized type with the access methods;
/// - `X: X_WRAPPER`, with the item's visibility and doc comments.
///
/// The attribute takes no arguments. The item must be a non-`mut` `static`
/// with an initialiser and a sized type.
#[proc_macro_attribute]
pub fn def_percpu(attr: TokenStream, item: TokenStream) -> TokenStream {
    match validate::parse(attr.into(), item.into()) {
        Ok(def) => expand::expand(&def).into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// Defines a [`PerCpuCounter`](https://docs.rs/percpu) static: one `isize`
/// slot per CPU in `.percpu`, reachable only through the counter's `add`
/// and `sum`.
///
/// ```ignore
/// percpu::def_percpu_counter!(pub static PACKETS);
/// PACKETS.add(1);
/// let total: i64 = PACKETS.sum();
/// ```
#[proc_macro]
pub fn def_percpu_counter(item: TokenStream) -> TokenStream {
    match syn::parse::<validate::CounterDef>(item) {
        Ok(def) => expand::expand_counter(&def).into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// The link-time address (VMA) of a symbol in `.percpu`, as a `usize`:
/// `percpu_symbol_vma!(_percpu_load_start)`.
///
/// Kept for kernels written against `percpu` 0.4, which exported it from
/// here. It never turns the symbol into a Rust reference, which the compiler
/// would assume non-null (`_percpu_load_start` is 0).
#[proc_macro]
pub fn percpu_symbol_vma(item: TokenStream) -> TokenStream {
    match syn::parse::<syn::Path>(item) {
        Ok(path) => quote::quote! { ::percpu::__percpu_symbol_vma!(#path) }.into(),
        Err(err) => err.to_compile_error().into(),
    }
}
