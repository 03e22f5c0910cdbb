; `map SOURCE $VARIABLE { ... }` blocks, e.g. the WebSocket map
; `map $http_upgrade $connection_upgrade { default upgrade; '' close; }`.
;
; @directive  the map directive
; @source     the string it maps from ($http_upgrade)
; @variable   the variable it defines ($connection_upgrade)
; @block      its body (one entry per directive)
((directive
   name: (word) @keyword
   .
   argument: (_) @source
   .
   argument: (_) @variable
   block: (block) @block) @directive
 (#eq? @keyword "map"))
