go test fuzz v1
string("core+cookie:// needs the cookie file: core+cookie://HOST:PORT?cookie=/path/to/.cookie")
