//! The lifetimes a static's type may leave out, spelled out: in a `static`,
//! `&T` means `&'static T` (and `'_` means `'static`), but the expansion
//! names the type where elision is not allowed (a type alias, a trait's
//! type parameter, an associated const).

use proc_macro2::Span;
use syn::{GenericArgument, Lifetime, PathArguments, Type, TypeParamBound};

/// Makes every elided lifetime of `ty` `'static`, except those a function
/// pointer or `Fn(..)` sugar binds itself (higher-ranked, left alone).
pub fn make_static(ty: &mut Type) {
    match ty {
        Type::Reference(r) => {
            match &mut r.lifetime {
                None => r.lifetime = Some(Lifetime::new("'static", Span::call_site())),
                Some(lifetime) => fill(lifetime),
            }
            make_static(&mut r.elem);
        }
        Type::Path(p) => {
            if let Some(qself) = &mut p.qself {
                make_static(&mut qself.ty);
            }
            for segment in &mut p.path.segments {
                if let PathArguments::AngleBracketed(args) = &mut segment.arguments {
                    for arg in &mut args.args {
                        match arg {
                            GenericArgument::Type(t) => make_static(t),
                            GenericArgument::Lifetime(l) => fill(l),
                            _ => {}
                        }
                    }
                }
            }
        }
        Type::TraitObject(t) => bounds(t.bounds.iter_mut()),
        Type::ImplTrait(t) => bounds(t.bounds.iter_mut()),
        Type::Array(t) => make_static(&mut t.elem),
        Type::Slice(t) => make_static(&mut t.elem),
        Type::Ptr(t) => make_static(&mut t.elem),
        Type::Paren(t) => make_static(&mut t.elem),
        Type::Group(t) => make_static(&mut t.elem),
        Type::Tuple(t) => t.elems.iter_mut().for_each(make_static),
        // A function pointer's elided lifetimes are its own.
        _ => {}
    }
}

fn fill(lifetime: &mut Lifetime) {
    if lifetime.ident == "_" {
        *lifetime = Lifetime::new("'static", lifetime.span());
    }
}

fn bounds<'a>(bounds: impl Iterator<Item = &'a mut TypeParamBound>) {
    for bound in bounds {
        match bound {
            TypeParamBound::Lifetime(l) => fill(l),
            TypeParamBound::Trait(t) => {
                for segment in &mut t.path.segments {
                    match &mut segment.arguments {
                        PathArguments::AngleBracketed(args) => {
                            for arg in &mut args.args {
                                match arg {
                                    GenericArgument::Type(t) => make_static(t),
                                    GenericArgument::Lifetime(l) => fill(l),
                                    _ => {}
                                }
                            }
                        }
                        // `Fn(&T) -> &U`: its lifetimes are its own.
                        PathArguments::Parenthesized(_) => {}
                        PathArguments::None => {}
                    }
                }
            }
            _ => {}
        }
    }
}
