{
  "targets": [
    {
      "target_name": "tessera_secp256k1",
      "sources": ["native/addon.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "<!@(pkg-config --cflags libsecp256k1)"],
      "libraries": ["<!@(pkg-config --libs libsecp256k1)"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["<!@(pkg-config --cflags libsecp256k1)"]
      }
    }
  ]
}
