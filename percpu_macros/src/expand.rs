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
    let Attrs {
        cfg,
        public,
        storage,
    } = split_attrs(&def.attrs);
    let storage_name = format_ident!("__PERCPU_{}", name);
    let borrow_name = format_ident!("__PERCPU_{}__DEBUG_BORROW", name);
    let wrapper = format_ident!("{}_WRAPPER", name);
    let name_str = name.to_string();
    let wrapper_doc = format!("Access to the per-CPU static [`{name}`]: one copy per CPU.");

    // With `sp-naive` there is one CPU and no linker script: plain globals.
    let section = if cfg!(feature = "sp-naive") {
        quote! {}
    } else {
        quote! { #[link_section = ".percpu"] }
    };
    let methods = methods(&storage_name, &borrow_name, &name_str, ty, init);

    quote! {
        #(#cfg)*
        #(#storage)*
        #section
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        #vis static mut #storage_name: #ty = #init;

        // Debug builds track borrows per CPU, to catch a nested `with_current`.
        #(#cfg)*
        #[cfg(debug_assertions)]
        #section
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static mut #borrow_name: usize = 0;

        #(#cfg)*
        #[doc = #wrapper_doc]
        #[allow(non_camel_case_types)]
        #vis struct #wrapper {}

        #(#cfg)*
        #(#public)*
        #vis static #name: #wrapper = #wrapper {};

        #(#cfg)*
        #[allow(dead_code, clippy::missing_safety_doc)]
        impl #wrapper {
            #methods
        }
    }
}

fn methods(
    storage: &syn::Ident,
    borrow: &syn::Ident,
    name: &str,
    ty: &syn::Type,
    init: &syn::Expr,
) -> TokenStream {
    // The debug borrow check, a no-op token stream in release builds.
    let enter_exclusive = quote! {
        #[cfg(debug_assertions)]
        let _borrow = unsafe {
            ::percpu::__priv::DebugBorrow::exclusive(
                ::percpu::__percpu_current_ptr!(#borrow) as *mut usize, #name)
        };
    };
    let enter_shared = quote! {
        #[cfg(debug_assertions)]
        let _borrow = unsafe {
            ::percpu::__priv::DebugBorrow::shared(
                ::percpu::__percpu_current_ptr!(#borrow) as *mut usize, #name)
        };
    };
    quote! {
        /// Offset of this variable from the start of a per-CPU area.
        #[inline(always)]
        pub fn offset(&self) -> usize {
            ::percpu::__percpu_offset!(#storage)
        }

        /// Link-time address (VMA) of this variable's template in `.percpu`.
        #[inline(always)]
        pub fn symbol_vma(&self) -> usize {
            ::percpu::__percpu_symbol_vma!(#storage)
        }

        /// Pointer to the current CPU's copy.
        ///
        /// # Safety
        /// The per-CPU register must be initialised on this CPU. The pointer
        /// is only the current CPU's while the caller cannot migrate
        /// (preemption disabled).
        #[inline(always)]
        pub unsafe fn current_ptr(&self) -> *const #ty {
            #[allow(unused_unsafe)]
            let ptr = unsafe { ::percpu::__percpu_current_ptr!(#storage) };
            ptr as *const #ty
        }

        /// Reference to the current CPU's copy, with no guard.
        ///
        /// # Safety
        /// As for [`Self::current_ptr`]; also no `&mut` to the same copy may
        /// exist while the reference lives.
        #[inline(always)]
        pub unsafe fn current_ref_raw(&self) -> &#ty {
            unsafe { &*self.current_ptr() }
        }

        /// Mutable reference to the current CPU's copy, with no guard.
        ///
        /// # Safety
        /// As for [`Self::current_ptr`]; also no other reference to the same
        /// copy may exist while this one lives.
        #[inline(always)]
        #[allow(clippy::mut_from_ref)]
        pub unsafe fn current_ref_mut_raw(&self) -> &mut #ty {
            unsafe { &mut *(self.current_ptr() as *mut #ty) }
        }

        /// Shared reference to the current CPU's copy; preemption stays
        /// disabled while the returned guard lives.
        #[inline]
        pub fn current_ref(&self) -> ::percpu::CurrentRef<'_, #ty> {
            let guard = ::percpu::__priv::NoPreempt::new();
            #[cfg(debug_assertions)]
            let borrow = unsafe {
                ::percpu::__priv::DebugBorrow::shared(
                    ::percpu::__percpu_current_ptr!(#borrow) as *mut usize, #name)
            };
            #[cfg(not(debug_assertions))]
            let borrow = ::percpu::__priv::DebugBorrow::none();
            // SAFETY: preemption is disabled for the guard's lifetime.
            unsafe { ::percpu::CurrentRef::new(&*self.current_ptr(), guard, borrow) }
        }

        /// Runs `f` on the current CPU's copy with preemption disabled.
        ///
        /// Debug builds panic if `f` (or an interrupt handler it is running
        /// under) reaches the same variable on the same CPU again.
        #[inline]
        pub fn with_current<F, R>(&self, f: F) -> R
        where
            F: FnOnce(&mut #ty) -> R,
        {
            let _guard = ::percpu::__priv::NoPreempt::new();
            #enter_exclusive
            // SAFETY: preemption is disabled, so this is the current CPU's
            // copy until `f` returns; nesting is caught in debug builds.
            f(unsafe { self.current_ref_mut_raw() })
        }

        /// Runs `f` on the current CPU's copy with preemption and local
        /// interrupts disabled, for data that interrupt handlers also touch.
        #[inline]
        pub fn with_current_irqsave<F, R>(&self, f: F) -> R
        where
            F: FnOnce(&mut #ty) -> R,
        {
            let _guard = ::percpu::__priv::NoPreemptIrqSave::new();
            #enter_exclusive
            // SAFETY: as in `with_current`, with interrupts off as well.
            f(unsafe { self.current_ref_mut_raw() })
        }

        /// Sets the current CPU's copy back to the initial value.
        #[inline]
        pub fn reset_to_init(&self) {
            // A fresh value from the initialiser; an interior-mutable one
            // (an atomic, a lock) is meant to be copied out here.
            #[allow(clippy::declare_interior_mutable_const, clippy::borrow_interior_mutable_const)]
            const INIT: #ty = #init;
            self.with_current(|value| *value = INIT);
        }

        /// Pointer to the copy of CPU `cpu_id`.
        ///
        /// # Safety
        /// The areas must be initialised and `cpu_id` below their number
        /// (debug builds check this and panic).
        #[inline]
        pub unsafe fn remote_ptr(&self, cpu_id: usize) -> *const #ty {
            (::percpu::__priv::remote_area_base(cpu_id) + self.offset()) as *const #ty
        }

        /// Reference to the copy of CPU `cpu_id`.
        ///
        /// # Safety
        /// As for [`Self::remote_ptr`]; also no `&mut` to that copy may exist
        /// while the reference lives (that CPU must not be writing it).
        #[inline]
        pub unsafe fn remote_ref_raw(&self, cpu_id: usize) -> &#ty {
            unsafe { &*self.remote_ptr(cpu_id) }
        }

        /// Reference to the copy of CPU `cpu_id`; the same as
        /// [`Self::remote_ref_raw`].
        ///
        /// # Safety
        /// As for [`Self::remote_ref_raw`].
        #[inline]
        pub unsafe fn remote_ref(&self, cpu_id: usize) -> &#ty {
            unsafe { &*self.remote_ptr(cpu_id) }
        }

        /// Mutable reference to the copy of CPU `cpu_id`.
        ///
        /// # Safety
        /// As for [`Self::remote_ptr`]; also no other reference to that copy
        /// may exist while this one lives.
        #[inline]
        #[allow(clippy::mut_from_ref)]
        pub unsafe fn remote_ref_mut_raw(&self, cpu_id: usize) -> &mut #ty {
            unsafe { &mut *(self.remote_ptr(cpu_id) as *mut #ty) }
        }

        /// Reads the current CPU's copy, with no guard.
        ///
        /// # Safety
        /// The per-CPU register must be initialised on this CPU. Without
        /// preemption disabled the value may be another CPU's (on x86_64 the
        /// read is one instruction and always the current CPU's).
        #[inline(always)]
        pub unsafe fn read_current_raw(&self) -> #ty
        where
            for<'a> #ty: ::percpu::PerCpuPrimitive,
        {
            unsafe { ::percpu::__percpu_read!(#storage, #ty) }
        }

        /// Writes the current CPU's copy, with no guard.
        ///
        /// # Safety
        /// The per-CPU register must be initialised on this CPU, and outside
        /// x86_64 preemption must be disabled, or the write may land in the
        /// area of the CPU the caller just left.
        #[inline(always)]
        pub unsafe fn write_current_raw(&self, val: #ty)
        where
            for<'a> #ty: ::percpu::PerCpuPrimitive,
        {
            unsafe { ::percpu::__percpu_write!(#storage, #ty, val) }
        }

        /// Reads the current CPU's copy.
        #[inline(always)]
        pub fn read_current(&self) -> #ty
        where
            for<'a> #ty: ::percpu::PerCpuPrimitive,
        {
            let _guard = ::percpu::__priv::OpGuard::new();
            #enter_shared
            unsafe { self.read_current_raw() }
        }

        /// Writes the current CPU's copy.
        #[inline(always)]
        pub fn write_current(&self, val: #ty)
        where
            for<'a> #ty: ::percpu::PerCpuPrimitive,
        {
            let _guard = ::percpu::__priv::OpGuard::new();
            #enter_exclusive
            unsafe { self.write_current_raw(val) }
        }

        /// Adds `val` to the current CPU's copy (wrapping).
        #[inline(always)]
        pub fn add_current(&self, val: #ty)
        where
            for<'a> #ty: ::percpu::PerCpuInteger,
        {
            let _guard = ::percpu::__priv::OpGuard::new();
            #enter_exclusive
            unsafe { ::percpu::__percpu_rmw!(add, #storage, #ty, val) }
        }

        /// Subtracts `val` from the current CPU's copy (wrapping).
        #[inline(always)]
        pub fn sub_current(&self, val: #ty)
        where
            for<'a> #ty: ::percpu::PerCpuInteger,
        {
            let _guard = ::percpu::__priv::OpGuard::new();
            #enter_exclusive
            unsafe { ::percpu::__percpu_rmw!(sub, #storage, #ty, val) }
        }

        /// Bitwise-ands the current CPU's copy with `val`.
        #[inline(always)]
        pub fn and_current(&self, val: #ty)
        where
            for<'a> #ty: ::percpu::PerCpuInteger,
        {
            let _guard = ::percpu::__priv::OpGuard::new();
            #enter_exclusive
            unsafe { ::percpu::__percpu_rmw!(and, #storage, #ty, val) }
        }

        /// Bitwise-ors `val` into the current CPU's copy.
        #[inline(always)]
        pub fn or_current(&self, val: #ty)
        where
            for<'a> #ty: ::percpu::PerCpuInteger,
        {
            let _guard = ::percpu::__priv::OpGuard::new();
            #enter_exclusive
            unsafe { ::percpu::__percpu_rmw!(or, #storage, #ty, val) }
        }

        /// Bitwise-xors `val` into the current CPU's copy.
        #[inline(always)]
        pub fn xor_current(&self, val: #ty)
        where
            for<'a> #ty: ::percpu::PerCpuInteger,
        {
            let _guard = ::percpu::__priv::OpGuard::new();
            #enter_exclusive
            unsafe { ::percpu::__percpu_rmw!(xor, #storage, #ty, val) }
        }

        /// Replaces the current CPU's copy with `val` and returns the old value.
        #[inline(always)]
        pub fn xchg_current(&self, val: #ty) -> #ty
        where
            for<'a> #ty: ::percpu::PerCpuInteger,
        {
            let _guard = ::percpu::__priv::OpGuard::new();
            #enter_exclusive
            unsafe { ::percpu::__percpu_xchg!(#storage, #ty, val) }
        }

        /// Stores `new` into the current CPU's copy if it equals `old`, and
        /// returns the value it had (equal to `old` on success).
        #[inline(always)]
        pub fn cmpxchg_current(&self, old: #ty, new: #ty) -> #ty
        where
            for<'a> #ty: ::percpu::PerCpuInteger,
        {
            let _guard = ::percpu::__priv::OpGuard::new();
            #enter_exclusive
            unsafe { ::percpu::__percpu_cmpxchg!(#storage, #ty, old, new) }
        }
    }
}
