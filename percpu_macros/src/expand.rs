//! Generating the storage, the wrapper type and its methods.
//!
//! Every access goes through a `::percpu::__percpu_*!` macro: the runtime,
//! compiled for the target with its features, picks the register and the
//! instruction sequence. Nothing here depends on the target.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Attribute;

use crate::validate::PercpuDef;

/// Attributes of the user's item, split by where they belong.
struct Attrs<'a> {
    /// `#[cfg]`: on every generated item, so they come and go together.
    cfg: Vec<&'a Attribute>,
    /// Doc comments, lint levels and `#[deprecated]`: on the `X` the user sees.
    public: Vec<&'a Attribute>,
    /// Everything else (`#[no_mangle]`, `#[export_name]`, `#[used]`, ...): on
    /// the storage, whose symbol assembly code refers to.
    storage: Vec<&'a Attribute>,
}

fn split_attrs(attrs: &[Attribute]) -> Attrs<'_> {
    let mut split = Attrs {
        cfg: Vec::new(),
        public: Vec::new(),
        storage: Vec::new(),
    };
    for attr in attrs {
        let path = attr.path();
        if path.is_ident("cfg") {
            split.cfg.push(attr);
        } else if ["doc", "allow", "warn", "deny", "expect", "deprecated"]
            .iter()
            .any(|name| path.is_ident(name))
        {
            split.public.push(attr);
        } else {
            split.storage.push(attr);
        }
    }
    split
}

pub fn expand(def: &PercpuDef) -> TokenStream {
    let PercpuDef {
        vis,
        name,
        ty,
        init,
        ..
    } = def;
    let attrs = split_attrs(&def.attrs);
    let (cfg, public) = (&attrs.cfg, &attrs.public);
    let storage = storage_and_location(&attrs, vis, name, quote!(#ty), quote!(#init));
    let location = location_name(name);
    let wrapper = format_ident!("{}_WRAPPER", name);
    let wrapper_doc = format!("Access to the per-CPU static [`{name}`]: one copy per CPU.");

    // The methods are `percpu::PerCpu`'s, written once in the runtime.
    quote! {
        #storage

        #(#cfg)*
        #[doc = #wrapper_doc]
        #[allow(non_camel_case_types)]
        #vis type #wrapper = ::percpu::PerCpu<#ty, #location>;

        #(#cfg)*
        #(#public)*
        #vis static #name: #wrapper = unsafe { ::percpu::PerCpu::__new(#location {}) };
    }
}

/// `def_percpu_counter!`: an `isize` slot per CPU, reachable only through
/// the `PerCpuCounter` handle.
pub fn expand_counter(def: &crate::validate::CounterDef) -> TokenStream {
    let crate::validate::CounterDef { attrs, vis, name } = def;
    let attrs = split_attrs(attrs);
    let (cfg, public) = (&attrs.cfg, &attrs.public);
    let storage = storage_and_location(&attrs, vis, name, quote!(isize), quote!(0));
    let location = location_name(name);
    quote! {
        #storage

        #(#cfg)*
        #(#public)*
        #vis static #name: ::percpu::PerCpuCounter<#location> =
            unsafe { ::percpu::PerCpuCounter::__from_location(#location {}) };
    }
}

fn location_name(name: &syn::Ident) -> syn::Ident {
    format_ident!("{}{}_LOCATION", percpu_layout::VARIABLE_PREFIX, name)
}

/// The storage, in `.percpu`, and the type that names it: what must be
/// generated for each static because it names the symbol.
fn storage_and_location(
    attrs: &Attrs<'_>,
    vis: &syn::Visibility,
    name: &syn::Ident,
    ty: TokenStream,
    init: TokenStream,
) -> TokenStream {
    let Attrs { cfg, storage, .. } = attrs;
    let storage_name = format_ident!("{}{}", percpu_layout::VARIABLE_PREFIX, name);
    let location = location_name(name);
    let name_str = name.to_string();
    // With `sp-naive` there is one CPU and no linker script: plain globals.
    let section = if cfg!(feature = "sp-naive") {
        quote! {}
    } else {
        let section = syn::LitStr::new(percpu_layout::SECTION, proc_macro2::Span::call_site());
        quote! { #[link_section = #section] }
    };
    quote! {
        #(#cfg)*
        #(#storage)*
        #section
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        #vis static mut #storage_name: #ty =
            <#location as ::percpu::__priv::StaticLocation<#ty>>::INIT;

        #(#cfg)*
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #location {}

        #(#cfg)*
        ::percpu::__percpu_static_location!(#location, #storage_name, #ty, #name_str, #init);
    }
}
