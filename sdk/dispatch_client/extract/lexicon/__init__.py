"""The words the extractor looks for, as data, apart from the rules that use them.

A list of words of some language is a dict from the language code (ISO 639-1: "en", "de",
"ja", …) to its words, lower-case; a list that belongs to no language (signs, currency codes,
parts of URLs, names of query parameters) is a tuple. How a list is matched (as a substring,
a whole word, a stem) is said where it is defined; the order of the words does not matter.

`codes` holds the code keywords, `decoys` the words that make a number no code, `links` the
words of a call to action and of the links that are never one.
"""
