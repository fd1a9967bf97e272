;;; timon.el --- timon lsp in Emacs, with eglot or lsp-mode  -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "27.1"))
;; Keywords: tools, languages, tex
;; SPDX-License-Identifier: Apache-2.0

;;; Commentary:

;; Connects `timon lsp', your institution's governed assistant, to Emacs:
;; code completion, code actions on a selection (explain, document, fix,
;; refactor) and LaTeX rewriting (reformulate, grammar, shorten,
;; translate) that keeps math, citations and references intact.
;;
;; With eglot (built into Emacs 29; the elpa-eglot package on Debian):
;;
;;   (add-to-list 'load-path "/path/to/timon/lsp/editors/emacs")
;;   (require 'timon)
;;   (setq timon-config "~/.config/timon/lsp.yaml")   ; or timon-hub-url
;;   (timon-eglot-setup)
;;   (add-hook 'prog-mode-hook #'eglot-ensure)
;;   (add-hook 'latex-mode-hook #'eglot-ensure)
;;
;; Completion is `completion-at-point' (C-M-i, or company/corfu): eglot
;; 1.9 has no inline completion, so the suggestion comes as a completion
;; item whose text edit is applied when you pick it.  Code actions:
;; M-x timon-code-actions (the region, or the paragraph at point in LaTeX).
;;
;; Eglot runs one server per buffer: in the modes of `timon-modes', timon
;; takes the place of other servers (gopls, pylsp).  lsp-mode can run timon
;; beside them, as an add-on server:
;;
;;   (require 'timon)
;;   (timon-lsp-mode-setup)
;;   (add-hook 'prog-mode-hook #'lsp-deferred)
;;   (add-hook 'latex-mode-hook #'lsp-deferred)
;;
;; With lsp-mode, M-x timon-code-actions runs `lsp-execute-code-action'
;; and waits up to `timon-action-timeout' for the rewrite.

;;; Code:

(require 'cl-lib)

(defgroup timon nil
  "The timon language server: governed completion and LaTeX rewriting."
  :group 'tools
  :prefix "timon-")

(defcustom timon-program "timon"
  "The timon binary: a name on `exec-path' or an absolute file name."
  :type 'string)

(defcustom timon-config nil
  "Configuration file for `timon lsp --config', or nil for none."
  :type '(choice (const :tag "None" nil) file))

(defcustom timon-hub-url nil
  "The timon hub for remote mode (`timon lsp --hub URL'), or nil.
The personal token is read by the server from TIMON_TOKEN (or the
file its configuration names); it is never passed on the command line."
  :type '(choice (const :tag "None (configuration decides)" nil) string))

(defcustom timon-modes
  '(prog-mode latex-mode plain-tex-mode tex-mode LaTeX-mode markdown-mode)
  "Major modes (and the modes derived from them) that timon serves."
  :type '(repeat symbol))

(defcustom timon-action-timeout 120
  "Seconds `timon-code-actions' waits for a rewrite under lsp-mode.
lsp-mode asks for the edit of the chosen action (codeAction/resolve)
and waits for it, `lsp-response-timeout' (10 s) by default: less than
a model may take to rewrite a long paragraph."
  :type 'number)

(defun timon-command ()
  "Return the command line of the language server, a list of strings."
  (append (list timon-program "lsp")
          (when (and timon-config (not (equal timon-config "")))
            (list "--config" (expand-file-name timon-config)))
          (when (and timon-hub-url (not (equal timon-hub-url "")))
            (list "--hub" timon-hub-url))))

;;;; eglot

(defvar eglot-server-programs)
(declare-function eglot-code-actions "eglot")
(declare-function lsp-execute-code-action "lsp-mode")
(defvar lsp-response-timeout)

;;;###autoload
(defun timon-eglot-setup ()
  "Make eglot start timon in the modes of `timon-modes'.
One timon process serves every buffer of those modes in a project."
  (require 'eglot)
  (setq eglot-server-programs
        (cons (cons timon-modes (lambda (&optional _interactive) (timon-command)))
              (cl-remove-if (lambda (entry) (eq (car-safe entry) timon-modes))
                            eglot-server-programs))))

;;;###autoload
(defun timon-code-actions ()
  "Offer timon's code actions on the region, or at point.
Without a region, a LaTeX action works on the paragraph at point and
a code action has nothing to work on.  (Plain `eglot-code-actions'
sends the bounds of the expression at point instead: one word.)
In a buffer managed by lsp-mode this is `lsp-execute-code-action',
which already sends the region or point, given `timon-action-timeout'
to wait for the rewrite."
  (interactive)
  (if (bound-and-true-p lsp-managed-mode)
      (let ((lsp-response-timeout (max timon-action-timeout lsp-response-timeout)))
        (call-interactively #'lsp-execute-code-action))
    (require 'eglot)
    (if (use-region-p)
        (eglot-code-actions (region-beginning) (region-end) nil t)
      (eglot-code-actions (point) (point) nil t))))

;;;; lsp-mode

(declare-function lsp-register-client "lsp-mode")
(declare-function make-lsp-client "lsp-mode")
(declare-function lsp-stdio-connection "lsp-mode")
(defvar lsp-language-id-configuration)

(defun timon--lsp-exact-capf (capf)
  "Make the completion table of CAPF, lsp-mode's, answer `test-completion'.
lsp-mode 8.0 (Debian 12's elpa-lsp-mode) answers nil to every
`test-completion', so `completion-at-point' never sees an exact match
and never calls the :exit-function, which is where the item's text
edit is applied: the candidate's label stays in the buffer instead of
the suggestion.  lsp-mode 9 answers as Emacs expects, like this."
  (pcase capf
    (`(,beg ,end ,(and (pred functionp) table) . ,props)
     `(,beg ,end
            ,(lambda (probe pred action)
               (if (eq action 'lambda)
                   (test-completion probe (funcall table probe pred t) pred)
                 (funcall table probe pred action)))
            ,@props))
    (_ capf)))

;;;###autoload
(defun timon-lsp-mode-setup ()
  "Register timon with lsp-mode, as an add-on beside other servers.
It serves the modes of `timon-modes' (and the modes derived from
them), gives AUCTeX's `LaTeX-mode' the language id \"latex\", and
makes `completion-at-point' apply the suggestion's text edit on
lsp-mode 8 (see `timon--lsp-exact-capf')."
  (require 'lsp-mode)
  (dolist (entry '((latex-mode . "latex") (LaTeX-mode . "latex")
                   (plain-tex-mode . "tex")))
    (unless (assq (car entry) lsp-language-id-configuration)
      (add-to-list 'lsp-language-id-configuration entry)))
  (advice-add 'lsp-completion-at-point :filter-return #'timon--lsp-exact-capf)
  (lsp-register-client
   (make-lsp-client
    :new-connection (lsp-stdio-connection #'timon-command)
    :activation-fn (lambda (_file mode)
                     (cl-some (lambda (m) (provided-mode-derived-p mode m))
                              timon-modes))
    :add-on? t
    :priority -2
    :server-id 'timon)))

(provide 'timon)
;;; timon.el ends here
