module github.com/antnet-p2p/antnet

go 1.26.8

require github.com/valyala/bytebufferpool v1.0.0
