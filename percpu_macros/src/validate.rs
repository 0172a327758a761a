//! Parsing the item under `#[def_percpu]` and rejecting misuse with errors
//! that name the problem.

use proc_macro2::{TokenStream, TokenTree};
use syn::{spanned::Spanned, Attribute, Error, Expr, Ident, Item, Type, Visibility};

/// A validated `static NAME: TY = INIT;` item.
pub struct PercpuDef {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub ty: Type,
    pub init: Expr,
}

pub fn parse(attr: TokenStream, item: TokenStream) -> syn::Result<PercpuDef> {
    if let Some(first) = attr.clone().into_iter().next() {
        return Err(Error::new(
            first.span(),
            "`#[def_percpu]` takes no arguments: write `#[def_percpu]` above a `static` item",
        ));
    }
    if let Some(err) = missing_initialiser(&item) {
        return Err(err);
    }
    let item: Item = syn::parse2(item)?;
    let Item::Static(item) = item else {
        return Err(Error::new(
            item.span(),
            "`#[def_percpu]` can only be applied to a `static` item, such as `static X: u32 = 0;`",
        ));
    };
    // `static mut` is accepted and means nothing, as in `percpu` 0.4: the
    // storage is always written through the methods.
    check_sized(&item.ty)?;
    let mut ty = *item.ty;
    crate::lifetimes::make_static(&mut ty);
    Ok(PercpuDef {
        attrs: item.attrs,
        vis: item.vis,
        name: item.ident,
        ty,
        init: *item.expr,
    })
}

/// `static X: T;` is not valid Rust, and syn would only say "expected `=`".
fn missing_initialiser(item: &TokenStream) -> Option<Error> {
    let tokens: Vec<TokenTree> = item.clone().into_iter().collect();
    let is_static = tokens
        .iter()
        .any(|t| matches!(t, TokenTree::Ident(i) if i == "static"));
    let has_eq = tokens
        .iter()
        .any(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == '='));
    match tokens.last() {
        Some(TokenTree::Punct(semi)) if is_static && !has_eq && semi.as_char() == ';' => {
            Some(Error::new(
                semi.span(),
                "per-CPU static has no initialiser: write `static X: T = <initial value>;` \
                 (the value is copied into every CPU's area)",
            ))
        }
        _ => None,
    }
}

/// Rejects the types that are unsized whatever their parameters.
fn check_sized(ty: &Type) -> syn::Result<()> {
    let unsized_kind = match ty {
        Type::Slice(_) => Some("a slice"),
        Type::TraitObject(_) => Some("a trait object"),
        Type::Path(p) if p.qself.is_none() && p.path.is_ident("str") => Some("`str`"),
        Type::Paren(inner) => return check_sized(&inner.elem),
        Type::Group(inner) => return check_sized(&inner.elem),
        _ => None,
    };
    match unsized_kind {
        Some(kind) => Err(Error::new(
            ty.span(),
            format!(
                "per-CPU statics need a sized type, but this is {kind}: \
                 every CPU's copy must have a size known at compile time (use an array or a reference)"
            ),
        )),
        None => Ok(()),
    }
}

/// A validated `def_percpu_counter!` input: `#[attrs] VIS static NAME`.
pub struct CounterDef {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
}

impl syn::parse::Parse for CounterDef {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if !input.peek(syn::Token![static]) {
            return Err(input
                .error("expected `static NAME`: write `def_percpu_counter!(pub static NAME);`"));
        }
        input.parse::<syn::Token![static]>()?;
        let name: Ident = input.parse()?;
        if input.peek(syn::Token![:]) || input.peek(syn::Token![=]) {
            return Err(input.error(
                "a per-CPU counter has no type or initialiser: it is a `PerCpuCounter` starting at 0",
            ));
        }
        let _ = input.parse::<Option<syn::Token![;]>>()?;
        if !input.is_empty() {
            return Err(input.error("one counter per `def_percpu_counter!`"));
        }
        Ok(Self { attrs, vis, name })
    }
}
