//! The macros of the `percpu` 0.2 line, for `percpu` 0.2.99.
//!
//! Use them through `percpu::def_percpu`. `#[def_percpu]` accepts what the
//! 0.2 line accepted (`static mut` included) and hands the static to the
//! `#[def_percpu]` of the 0.4 runtime, which `percpu` 0.2.99 re-exports:
//! one expansion, one set of access methods, for both lines.

#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::quote;
use syn::visit_mut::{self, VisitMut};

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
    item.mutability = syn::StaticMutability::None;
    StaticLifetimes.visit_type_mut(&mut item.ty);
    quote! {
        #[::percpu::__priv::def_percpu_0_4(#attr)]
        #item
    }
    .into()
}

/// Spells out the lifetimes a static's type may leave out: the 0.4
/// expansion names the type where elision is not allowed (a type alias,
/// a trait's type parameter, an associated const).
struct StaticLifetimes;

impl VisitMut for StaticLifetimes {
    fn visit_type_reference_mut(&mut self, ty: &mut syn::TypeReference) {
        if ty.lifetime.is_none() {
            ty.lifetime = Some(syn::Lifetime::new("'static", Span::call_site()));
        }
        visit_mut::visit_type_reference_mut(self, ty);
    }

    fn visit_lifetime_mut(&mut self, lifetime: &mut syn::Lifetime) {
        if lifetime.ident == "_" {
            *lifetime = syn::Lifetime::new("'static", lifetime.span());
        }
    }

    /// A function pointer's elided lifetimes are its own (higher-ranked):
    /// left alone.
    fn visit_type_bare_fn_mut(&mut self, _: &mut syn::TypeBareFn) {}

    /// So are those of `Fn(&T)` sugar in a trait bound.
    fn visit_parenthesized_generic_arguments_mut(
        &mut self,
        _: &mut syn::ParenthesizedGenericArguments,
    ) {
    }
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
