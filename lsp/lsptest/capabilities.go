package lsptest

// Client capabilities as real editors declare them (trimmed to what
// matters to timon lsp), for Initialize.
const (
	// VSCode (1.139, vscode-languageclient 9): inline completion, code
	// action resolve of edits, server-initiated progress, versioned edits
	// with change annotations (an edit needing confirmation opens the
	// refactor preview), UTF-16 positions only.
	VSCode = `{
  "general": {"positionEncodings": ["utf-16"]},
  "window": {"workDoneProgress": true, "showMessage": {"messageActionItem": {"additionalPropertiesSupport": true}}, "showDocument": {"support": true}},
  "workspace": {"applyEdit": true, "workspaceEdit": {"documentChanges": true, "resourceOperations": ["create", "rename", "delete"],
      "failureHandling": "textOnlyTransactional", "normalizesLineEndings": true, "changeAnnotationSupport": {"groupsOnLabel": true}},
    "workspaceFolders": true, "configuration": true,
    "executeCommand": {"dynamicRegistration": true}},
  "textDocument": {
    "synchronization": {"dynamicRegistration": true, "didSave": true},
    "completion": {"completionItem": {"snippetSupport": true, "insertReplaceSupport": true}, "contextSupport": true},
    "inlineCompletion": {"dynamicRegistration": true},
    "codeAction": {"dataSupport": true, "isPreferredSupport": true, "resolveSupport": {"properties": ["edit"]},
      "codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["", "quickfix", "refactor", "refactor.extract", "refactor.inline", "refactor.rewrite", "source"]}}}
  }
}`

	// Neovim07 (Debian's Neovim 0.7.2, vim.lsp.protocol.make_client_capabilities):
	// no inline completion, resolve of edits, progress, unversioned edits
	// (no documentChanges), UTF-16 (it declares no positionEncodings).
	Neovim07 = `{
  "window": {"workDoneProgress": true, "showMessage": {"messageActionItem": {"additionalPropertiesSupport": false}}, "showDocument": {"support": false}},
  "workspace": {"applyEdit": true, "workspaceEdit": {"resourceOperations": ["rename", "create", "delete"]}, "workspaceFolders": true,
    "configuration": true, "symbol": {"dynamicRegistration": false}},
  "textDocument": {
    "synchronization": {"dynamicRegistration": false, "willSave": false, "willSaveWaitUntil": false, "didSave": true},
    "completion": {"dynamicRegistration": false, "completionItem": {"snippetSupport": false, "commitCharactersSupport": false,
      "preselectSupport": false, "deprecatedSupport": false, "documentationFormat": ["markdown", "plaintext"]}, "contextSupport": false},
    "codeAction": {"dynamicRegistration": false, "dataSupport": true, "isPreferredSupport": true, "resolveSupport": {"properties": ["edit"]},
      "codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["", "quickfix", "refactor", "refactor.extract", "refactor.inline", "refactor.rewrite", "source", "source.organizeImports"]}}}
  }
}`

	// Eglot19 (Emacs 28, eglot 1.9, as it initializes): no inline
	// completion, no code action resolve (actions carry a command), no
	// progress creation, versioned edits, UTF-16. It also sends didOpen
	// with version 0, and the languageId of the first major mode it manages
	// for every file (a .tex file arrives as "go").
	Eglot19 = `{
  "workspace": {"applyEdit": true, "executeCommand": {"dynamicRegistration": false}, "workspaceEdit": {"documentChanges": true},
    "didChangeWatchedFiles": {"dynamicRegistration": true}, "symbol": {"dynamicRegistration": false}, "configuration": true,
    "workspaceFolders": true},
  "textDocument": {
    "synchronization": {"dynamicRegistration": false, "willSave": true, "willSaveWaitUntil": true, "didSave": true},
    "completion": {"dynamicRegistration": false, "completionItem": {"snippetSupport": false, "deprecatedSupport": true, "tagSupport": {"valueSet": [1]}},
      "contextSupport": true},
    "codeAction": {"dynamicRegistration": false, "codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["quickfix", "refactor", "refactor.extract",
      "refactor.inline", "refactor.rewrite", "source", "source.organizeImports"]}}, "isPreferredSupport": true}
  },
  "experimental": {}
}`

	// UTF8Client offers UTF-8 positions (as Helix or Zed do) with VS Code's
	// other capabilities, without inline completion.
	UTF8Client = `{
  "general": {"positionEncodings": ["utf-8", "utf-32", "utf-16"]},
  "window": {"workDoneProgress": true},
  "workspace": {"applyEdit": true, "workspaceEdit": {"documentChanges": true}},
  "textDocument": {"completion": {"contextSupport": true}, "codeAction": {"resolveSupport": {"properties": ["edit"]}}}
}`
)
