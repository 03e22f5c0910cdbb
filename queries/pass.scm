; Every `*_pass` directive (proxy_pass, fastcgi_pass, grpc_pass, uwsgi_pass,
; scgi_pass, memcached_pass, ...) with its target.
;
; @directive  the whole directive
; @name       its name
; @target     its first argument (the URL, host:port or upstream name)
((directive
   name: (word) @name
   .
   argument: (_) @target) @directive
 (#match? @name "^[a-z_]+_pass$"))
