; The settings whose inheritance upkeep has to respect (or reports on), and
; `include`, which may hide more of them.
;
; @directive  the whole directive
; @name       proxy_set_header, proxy_http_version, proxy_redirect,
;             proxy_ssl_name, proxy_cache, proxy_cache_key or include
((directive
   name: (word) @name) @directive
 (#any-of? @name "proxy_set_header" "proxy_http_version" "proxy_redirect" "proxy_ssl_name" "proxy_cache" "proxy_cache_key" "include"))
