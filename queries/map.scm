; `map SOURCE $VARIABLE { ... }` blocks, e.g. the WebSocket map
; `map $http_upgrade $connection_upgrade { default upgrade; '' close; }`,
; which upkeep reuses and makes send an empty Connection when there is no
; Upgrade.
;
; @directive  the map directive
; @keyword    its name (for the predicate)
((directive
   name: (word) @keyword
   .
   argument: (_)
   .
   argument: (_)
   block: (block)) @directive
 (#eq? @keyword "map"))
