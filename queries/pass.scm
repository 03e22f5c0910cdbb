; Every `*_pass` directive (proxy_pass, fastcgi_pass, grpc_pass, uwsgi_pass,
; scgi_pass, memcached_pass, ...) that has a target: upkeep pools the
; proxy_pass ones and keeps every other target's name out of the upstream
; names it chooses.
;
; @directive  the whole directive
; @name       its name (for the predicate)
((directive
   name: (word) @name
   .
   argument: (_)) @directive
 (#match? @name "^[a-z_]+_pass$"))
