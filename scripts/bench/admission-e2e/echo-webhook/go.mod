module ork.bench/echo-webhook

go 1.26
