/** A program that uses qkv as a library: on the module path it reads module dev.qkv like any other. */
module dev.qkv.consumer {
    requires dev.qkv;
}
