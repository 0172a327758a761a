//! The macros of the `percpu` 0.2 line, for `percpu` 0.2.99.
//!
//! Use them through `percpu::def_percpu`. `#[def_percpu]` accepts what the
//! 0.2 line accepted (`static mut` included) and hands the static to the
//! `#[def_percpu]` of the 0.4 runtime, which `percpu` 0.2.99 re-exports:
//! one expansion, one set of access methods, for both lines.

#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;

/// Defines a per-CPU static: every CPU gets its own copy of the value.
///
/// ```ignore
/// #[percpu::def_percpu]
/// static CPU_ID: usize = 0;
/// ```
///
/// As in the 0.2 line, `static mut` is accepted (the storage is mutable
/// either way, and `X` itself is the handle whose methods reach it), and so
/// is a type with an elided lifetime, `&T` in a static meaning `&'static T`.
#[proc_macro_attribute]
pub fn def_percpu(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = TokenStream2::from(attr);
    let mut item = match syn::parse::<syn::ItemStatic>(item) {
        Ok(item) => item,
        Err(err) => return err.to_compile_error().into(),
    };
    // The 0.4 macro spells out elided lifetimes (`&T` meaning `&'static T`).
    item.mutability = syn::StaticMutability::None;
    quote! {
        #[::percpu::__priv::def_percpu_0_4(#attr)]
        #item
    }
    .into()
}

/// The link-time address (VMA) of a symbol in `.percpu`, as a `usize`
/// (`percpu_macros` 0.2.2's name).
#[doc(hidden)]
#[proc_macro]
pub fn percpu_symbol_vma(item: TokenStream) -> TokenStream {
    let sym = TokenStream2::from(item);
    quote!(::percpu::__percpu_symbol_vma!(#sym)).into()
}

/// The same, under `percpu_macros` 0.2.0's name: at VMA 0, which is all
/// 0.2.0 knew, a symbol's VMA is its offset in an area.
#[doc(hidden)]
#[proc_macro]
pub fn percpu_symbol_offset(item: TokenStream) -> TokenStream {
    let sym = TokenStream2::from(item);
    quote!(::percpu::__percpu_symbol_vma!(#sym)).into()
}
