; `upstream NAME { ... }` blocks.
;
; @directive  the upstream directive
; @name       the upstream's name
; @block      its body (server entries, keepalive, balancing method)
((directive
   name: (word) @keyword
   .
   argument: (_) @name
   block: (block) @block) @directive
 (#eq? @keyword "upstream"))
