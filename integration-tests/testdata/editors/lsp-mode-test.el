;;; lsp-mode-test.el --- drives lsp-mode against timon lsp  -*- lexical-binding: t; -*-

;; Run by integration-tests/editors_lspmode_test.go as
;;   emacs --batch -q -l lsp-mode-test.el
;; with lsp/editors/emacs on the load path and TIMON_TEST_SETUP naming a
;; file that holds the lsp-mode set-up of lsp/editors/README.md, a buffer
;; without go-mode included: `.go' files in `prog-mode', their language
;; id from their name.  It does what a user does: opens main.go, starts
;; lsp-mode (M-x lsp), completes at the end of a line with
;; completion-at-point and saves; opens paper.tex (`latex-mode'), runs
;; timon-code-actions (lsp-execute-code-action under lsp-mode) with point
;; in a paragraph, picks the action by its title and saves.  The Go test
;; checks the files.  Any failure prints "FAIL: why" and exits 1, after
;; lsp-mode's log and I/O buffers.

;;; Code:

(require 'cl-lib)
(require 'subr-x)

(defun timon-test-env (name)
  (let ((v (getenv name)))
    (when (or (null v) (string-empty-p v))
      (message "FAIL: %s is not set" name)
      (kill-emacs 1))
    v))

(add-to-list 'load-path (timon-test-env "TIMON_EMACS_DIR"))
;; What Emacs does at start-up without -q: activate the installed packages
;; (Debian's elpa-lsp-mode included), autoloads and all.
(package-activate-all)

(defvar timon-test-project (file-name-as-directory (timon-test-env "TIMON_TEST_PROJECT")))
(defvar timon-test-action (timon-test-env "TIMON_TEST_ACTION"))

;; The test's own settings, before lsp-mode loads: no other language
;; server (lsp-mode would start gopls for Go when installed), the I/O
;; kept for the failure report, no questions.  (HOME, where lsp-mode
;; keeps its session, is the test's.)
(setq lsp-client-packages nil
      lsp-log-io t
      lsp-keep-workspace-alive nil
      lsp-restart 'ignore
      lsp-enable-file-watchers nil
      lsp-enable-snippet nil
      lsp-auto-execute-action nil
      lsp-headerline-breadcrumb-enable nil
      lsp-modeline-code-actions-enable nil
      lsp-modeline-diagnostics-enable nil
      lsp-modeline-workspace-status-enable nil
      lsp-lens-enable nil
      make-backup-files nil
      create-lockfiles nil)

;; The set-up of lsp/editors/README.md, as a user copies it, then the
;; test's binary and configuration in place of the user's.
(load (timon-test-env "TIMON_TEST_SETUP") nil t)
(setq timon-program (timon-test-env "TIMON_BIN")
      timon-config (timon-test-env "TIMON_TEST_CONFIG"))

;; M-x lsp asks for the project's root the first time: the user answers
;; with the project.
(lsp-workspace-folders-add timon-test-project)

(defun timon-test-dump ()
  (dolist (buf (buffer-list))
    (when (string-match-p "\\`\\*lsp-log\\*\\|\\*lsp-log: timon" (buffer-name buf))
      (with-current-buffer buf
        (princ (format "--- %s ---\n%s\n" (buffer-name) (buffer-string)))))))

(defun timon-test-fail (fmt &rest args)
  (timon-test-dump)
  (message "FAIL: %s" (apply #'format fmt args))
  (kill-emacs 1))

(defun timon-test-wait (seconds what pred)
  (let ((deadline (+ (float-time) seconds)))
    (while (not (funcall pred))
      (when (> (float-time) deadline)
        (timon-test-fail "timed out after %ss waiting for %s" seconds what))
      (accept-process-output nil 0.05))))

(defun timon-test-open (name mode)
  (find-file (expand-file-name name timon-test-project))
  (unless (eq major-mode mode)
    (timon-test-fail "%s opened in %s, want %s" name major-mode mode))
  ;; lsp-deferred starts lsp-mode once the buffer is shown; in batch mode
  ;; nothing is, so this is M-x lsp.
  (lsp)
  (timon-test-wait 15 (format "lsp-mode to manage %s" name)
                   (lambda ()
                     (and (bound-and-true-p lsp-managed-mode)
                          (cl-some (lambda (ws) (eq (lsp--workspace-status ws) 'initialized))
                                   (lsp-workspaces)))))
  (princ (format "%s: %S, servers %S\n" name major-mode
                 (mapcar (lambda (ws) (lsp--client-server-id (lsp--workspace-client ws)))
                         (lsp-workspaces)))))

(condition-case err
    (progn
      ;; Go: completion at the end of "func add(a, b int) int {".
      (timon-test-open "main.go" 'prog-mode)
      (goto-char (point-min))
      (unless (re-search-forward "^func add.*{$" nil t)
        (timon-test-fail "main.go has no func add line"))
      (end-of-line)
      (let ((before (buffer-string)))
        (completion-at-point)
        (when (equal before (buffer-string))
          (timon-test-fail "completion-at-point inserted nothing")))
      (princ (format "completion: %S\n" (buffer-string)))
      (save-buffer)

      ;; LaTeX: the rewrite action on the paragraph at point.
      (timon-test-open "paper.tex" 'latex-mode)
      (goto-char (point-min))
      (unless (search-forward "utilize" nil t)
        (timon-test-fail "paper.tex has no paragraph with \"utilize\""))
      (let ((before (buffer-string))
            (offered nil))
        ;; The user picks the action from lsp-mode's menu.
        (cl-letf (((symbol-function 'completing-read)
                   (lambda (_prompt collection &rest _)
                     (setq offered (mapcar (lambda (c) (if (consp c) (car c) c)) collection))
                     (if (member timon-test-action offered)
                         timon-test-action
                       (timon-test-fail "action %S not offered; offered: %S"
                                        timon-test-action offered)))))
          (call-interactively #'timon-code-actions))
        (princ (format "offered: %S\n" offered))
        (timon-test-wait 20 "the rewrite to be applied"
                         (lambda () (not (equal before (buffer-string))))))
      (save-buffer)
      (lsp-workspace-shutdown (car (lsp-workspaces)))
      (kill-emacs 0))
  (error (timon-test-fail "%s" (error-message-string err))))

;;; lsp-mode-test.el ends here
