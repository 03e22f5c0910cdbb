; `location [MODIFIER] PATH { ... }` blocks (prefix, `=`, `~`, `~*`, `^~`, `@name`).
;
; @directive  the location directive
; @block      its body
((directive
   name: (word) @keyword
   block: (block) @block) @directive
 (#eq? @keyword "location"))
