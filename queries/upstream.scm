; `upstream NAME { ... }` blocks: existing pools a backend may reuse, and
; names a new upstream must not take.
;
; @directive  the upstream directive
; @keyword    its name (for the predicate)
((directive
   name: (word) @keyword
   .
   argument: (_)
   block: (block)) @directive
 (#eq? @keyword "upstream"))
